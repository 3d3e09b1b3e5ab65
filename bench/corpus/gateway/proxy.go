package gateway

import (
	"net/http"
	"net/http/httputil"
	"net/url"
)

// NewReverseProxy forwards requests to the upstream shop service and adds a request id header.
func NewReverseProxy(upstream string) (*httputil.ReverseProxy, error) {
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	director := proxy.Director
	proxy.Director = func(r *http.Request) {
		director(r)
		r.Header.Set("X-Request-Id", newRequestID())
	}
	return proxy, nil
}

"""A read-only HTTP client for code-host plugins: GET and HEAD only, timeouts, rate limits,
pagination, ETag revalidation, one-line errors that never hold the token.

Code-host plugins (``lanterna-github-pat``, ``lanterna-gitlab-pat``, yours) share it instead of
each writing its own retry loop; they pass a ``Provider`` with their names and hints. It runs
on httpx2, which the MCP SDK already depends on (one HTTP stack in the process). Import it only
where a request is made: listing plugins or tools must not load an HTTP library.

Read-only is a property of the transport: any other method is refused before a byte leaves.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx2

from lanterna.errors import UserError

log = logging.getLogger("lanterna.http")

READ_METHODS = frozenset({"GET", "HEAD"})
LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class ReadOnlyViolation(RuntimeError):
    """Something tried to send a request that is not GET or HEAD."""


class HTTPFailure(UserError):
    """A request failed in a way the user can act on; the message says how. ``status`` is the
    HTTP status (0 for a timeout or a connection failure)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Provider:
    """How a code host names things in messages."""

    name: str  # "GitHub"
    token_hint: str  # "set GITHUB_TOKEN (or [github] token in the config file)"
    scopes_hint: str  # "a classic token needs 'repo' (private) or no scope (public)"
    status_page: str = ""


@dataclass
class Stats:
    """What a client sent, for reports and benchmarks."""

    requests: int = 0
    not_modified: int = 0
    cached: int = 0
    bytes: int = 0
    waited_seconds: float = 0.0
    methods: list[str] = field(default_factory=list)


class ReadOnlyTransport(httpx2.BaseTransport):
    """Wraps a transport; refuses every method but GET and HEAD."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method not in READ_METHODS:
            raise ReadOnlyViolation(f"refusing to send {request.method}: this client is read only")
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class EtagCache:
    """Bodies of earlier answers and their ETags, on disk, for ``If-None-Match``.

    One folder per tenant and host: a tenant never sees another's cached answers. URLs that
    name content by hash (a tree at a commit id) never change and are served without a request.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _file(self, url: str) -> Path:
        return self.directory / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".json")

    def get(self, url: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._file(url).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, url: str, etag: str | None, body: str, headers: Mapping[str, str]) -> None:
        kept = {k: v for k, v in headers.items() if k.lower() in ("link", "x-next-page", "x-total-pages")}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self._file(url)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"etag": etag, "body": body, "headers": kept}), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass


@dataclass
class Answer:
    """A response, or a cached body standing in for a 304."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str
    from_cache: bool = False

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class ReadOnlyClient:
    """GET/HEAD against one API base URL, with the provider's auth headers.

    Waits when the host says so (``retry-after``, exhausted ``x-ratelimit-*`` / ``ratelimit-*``),
    backs off exponentially on secondary limits and 5xx, but never longer than ``max_wait``
    seconds in all: then it fails with a message that says when to retry.
    """

    def __init__(
        self,
        base_url: str,
        provider: Provider,
        auth_headers: Mapping[str, str],
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 20.0,
        max_wait: float = 60.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        cache: EtagCache | None = None,
        transport: httpx2.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.provider = provider
        self.auth_headers = dict(auth_headers)
        self.timeout = timeout
        self.max_wait = max_wait
        self.max_retries = max_retries
        self.backoff = backoff
        self.cache = cache
        self.sleep = sleep
        self.stats = Stats()
        self._origin = _origin(self.base_url)
        inner = transport or httpx2.HTTPTransport(retries=0)
        self.http = httpx2.Client(
            transport=ReadOnlyTransport(inner),
            headers={"user-agent": "lanterna", **(headers or {})},
            timeout=httpx2.Timeout(timeout),
            follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ReadOnlyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ----------------------------------------------------------------------

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else urljoin(self.base_url, path.lstrip("/"))

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        accept: str | None = None,
        revalidate: bool = False,
        immutable: bool = False,
        method: str = "GET",
    ) -> Answer:
        """One request (redirects followed). ``revalidate`` sends the cached ETag and serves the
        cached body on 304; ``immutable`` serves a cached body without asking at all."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = str(httpx2.URL(self.url(path), params=query)) if query else self.url(path)
        cached = self.cache.get(url) if self.cache and (revalidate or immutable) and method == "GET" else None
        if cached is not None and immutable:
            self.stats.cached += 1
            return Answer(200, cached.get("headers", {}), cached["body"].encode(), url, from_cache=True)
        headers = {"accept": accept} if accept else {}
        if cached is not None and cached.get("etag"):
            headers["if-none-match"] = cached["etag"]
        response = self._send(method, url, headers)
        if response.status_code == 304 and cached is not None:
            self.stats.not_modified += 1
            return Answer(200, cached.get("headers", {}), cached["body"].encode(), url, from_cache=True)
        answer = Answer(response.status_code, response.headers, response.content, str(response.url))
        if self.cache is not None and (revalidate or immutable) and method == "GET":
            etag = response.headers.get("etag")
            if etag or immutable:
                self.cache.put(url, etag, answer.text, response.headers)
        return answer

    def _next_page(
        self, headers: Mapping[str, str], path: str, query: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any]]:
        match = LINK_NEXT.search(headers.get("link", ""))
        if match:
            target = match.group(1)
            if _origin(target) != self._origin:
                log.warning("not following a next-page link to another host: %s", _origin(target))
                return None, {}
            return target, {}
        next_page = headers.get("x-next-page", "").strip()
        if next_page:
            return path, {**query, "page": next_page}
        return None, {}

    # -- sending, waiting, failing -----------------------------------------------------

    def _send(self, method: str, url: str, headers: dict[str, str]) -> httpx2.Response:
        waited = 0.0
        attempt = 0
        while True:
            response = self._send_following(method, url, headers)
            delay, reason = self._delay(response, attempt)
            if delay is None:
                return response
            if waited + delay > self.max_wait or attempt >= self.max_retries:
                raise self._gave_up(response, reason, delay)
            log.info("%s: %s; waiting %.1f s before retrying %s", self.provider.name, reason, delay, _short(url))
            self.sleep(delay)
            waited += delay
            self.stats.waited_seconds += delay
            attempt += 1

    def _send_following(self, method: str, url: str, headers: dict[str, str]) -> httpx2.Response:
        for _ in range(6):
            same_origin = _origin(url) == self._origin
            # the token goes to the API's own host only, never to a redirect target elsewhere
            sent = {**headers, **(self.auth_headers if same_origin else {})}
            try:
                response = self.http.request(method, url, headers=sent)
            except httpx2.TimeoutException:
                raise HTTPFailure(
                    f"{self.provider.name} did not answer within {self.timeout:g} s ({method} {_short(url)});"
                    " try again, or check the base URL and raise the timeout setting",
                ) from None
            except httpx2.TransportError as exc:
                raise HTTPFailure(
                    f"cannot reach {self.provider.name} at {_origin(url)} ({type(exc).__name__});"
                    " check the base URL and your network",
                ) from None
            self.stats.requests += 1
            self.stats.methods.append(method)
            self.stats.bytes += len(response.content)
            if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                headers = {k: v for k, v in headers.items() if k != "if-none-match"}
                continue
            return response
        raise HTTPFailure(f"{self.provider.name} redirected too often for {_short(url)}; check the base URL", 310)

    def _delay(self, response: httpx2.Response, attempt: int) -> tuple[float | None, str]:
        status = response.status_code
        h = response.headers
        if status in (403, 429):
            retry_after = _retry_after(h.get("retry-after"))
            if retry_after is not None:
                return retry_after, "rate limited (retry-after)"
            remaining = h.get("x-ratelimit-remaining", h.get("ratelimit-remaining"))
            reset = h.get("x-ratelimit-reset", h.get("ratelimit-reset"))
            if remaining is not None and remaining.strip() == "0" and reset:
                return max(0.0, float(reset) - time.time()) + 1, "rate limit exhausted"
            if status == 429 or "rate limit" in response.text.lower():
                return self._backoff(attempt), "secondary rate limit"
            return None, ""
        if status >= 500:
            return self._backoff(attempt), f"server error {status}"
        return None, ""

    def _backoff(self, attempt: int) -> float:
        return self.backoff * (2**attempt) * (1 + random.random() / 4)

    def _gave_up(self, response: httpx2.Response, reason: str, delay: float) -> HTTPFailure:
        name = self.provider.name
        path = _short(str(response.request.url))
        if response.status_code >= 500:
            page = f", or see {self.provider.status_page}" if self.provider.status_page else ""
            return HTTPFailure(
                f"{name} answered {response.status_code} (server error) for {path} after"
                f" {self.max_retries} retries; try again later{page}",
                response.status_code,
            )
        when = time.strftime("%H:%M:%S UTC", time.gmtime(time.time() + delay))
        return HTTPFailure(f"{name} {reason} for {path}; retry after {when} (in {delay:.0f} s)", response.status_code)

    def check(self, answer: Answer, what: str) -> Answer:
        """Raise the one-line message for an error status; ``what`` names the thing asked for."""
        status = answer.status
        if status < 400:
            return answer
        name = self.provider.name
        detail = _error_detail(answer, self._scrub)
        if status == 401:
            cause = f" ({detail})" if detail else ""
            raise HTTPFailure(
                f"{name} rejected the token (401){cause}: it is missing, expired or revoked;"
                f" create a new one and {self.provider.token_hint}",
                401,
            )
        if status == 403:
            raise HTTPFailure(
                f"{name} refused access to {what} (403): the token lacks a scope or permission;"
                f" {self.provider.scopes_hint}",
                403,
            )
        if status == 404:
            raise HTTPFailure(
                f"{name} has no {what}, or the token cannot see it (404); check the name and the token's access",
                404,
            )
        suffix = f": {detail}" if detail else ""
        raise HTTPFailure(f"{name} answered {status} for {what}{suffix}", status)

    def _scrub(self, text: str) -> str:
        """``text`` (a host's own words) without the credentials this client sends."""
        for value in self.auth_headers.values():
            # the bare token too: "Bearer <token>" may be quoted without its scheme
            for secret in (value, *value.split()[1:]):
                if len(secret) >= 8:
                    text = text.replace(secret, "[token]")
        return text

    def get_ok(self, path: str, what: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Answer:
        return self.check(self.get(path, params, **kwargs), what)

    def json_ok(self, path: str, what: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        return self._parse(self.get_ok(path, what, params, **kwargs), what)

    def _parse(self, answer: Answer, what: str) -> Any:
        try:
            return answer.json()
        except ValueError:
            raise HTTPFailure(
                f"{self.provider.name} answered {what} with something that is not JSON;"
                " check the base URL (it must point at the API)",
                answer.status,
            ) from None

    def pages(
        self,
        path: str,
        what: str,
        params: Mapping[str, Any] | None = None,
        *,
        limit: int = 100,
        per_page: int = 100,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Items of a list endpoint, page after page (``Link: rel=next``, else ``x-next-page``),
        at most ``limit``; a body that is an object with ``items`` (search) is unwrapped."""
        query: dict[str, Any] = {**(params or {}), "per_page": min(per_page, max(limit, 1))}
        url: str | None = path
        count = 0
        while url is not None:
            answer = self.get_ok(url, what, query, **kwargs)
            body = self._parse(answer, what)
            items = body.get("items", []) if isinstance(body, dict) else body
            for item in items:
                yield item
                count += 1
                if count >= limit:
                    return
            url, query = self._next_page(answer.headers, path, query)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _short(url: str) -> str:
    return urlsplit(url).path


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _error_detail(answer: Answer, scrub: Callable[[str], str] = str) -> str:
    """The host's own one-line reason (``message``, ``error_description``), passed through
    ``scrub``, shortened."""
    try:
        body = answer.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    text = body.get("error_description") or body.get("message") or body.get("error") or ""
    return scrub(" ".join(str(text).split()))[:160]

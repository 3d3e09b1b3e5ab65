"""lanterna.readonly_http against a real socket: only GET and HEAD ever leave, the token stays
with the API's host, ETags are revalidated, pagination stays on the API's host."""

from __future__ import annotations

import pytest

from lanterna.readonly_http import EtagCache, HTTPFailure, Provider, ReadOnlyClient, ReadOnlyViolation
from tests.fake_http import FakeServer, Reply, Seen

PROVIDER = Provider("Host", token_hint="set HOST_TOKEN", scopes_hint="give it read access")
SECRET = "tok_" + "S3cret" * 6


class Echo(FakeServer):
    """Answers every GET with its path; /etag with an ETag; /other-host/... redirects elsewhere."""

    def __init__(self, target: str = "") -> None:
        super().__init__()
        self.target = target

    def answer(self, seen: Seen, path: str) -> Reply:
        if path == "/etag":
            if seen.headers.get("if-none-match") == '"v1"':
                return Reply(304, b"", {"etag": '"v1"'})
            return Reply(200, {"value": 1}, {"etag": '"v1"'})
        if path == "/away":
            return Reply(302, b"", {"location": f"{self.target}/landed"})
        if path.startswith("/echo/"):  # a host that quotes the credential back in its error
            _, _, how, status = path.split("/")
            quoted = seen.headers.get("authorization", "")
            quoted = quoted.removeprefix("Bearer ") if how == "bare" else quoted
            return Reply(int(status), {"message": f"token {quoted} is not valid here"})
        if path == "/list":
            return Reply(200, [1, 2], {"link": f'<{self.target}/list?page=2>; rel="next"'})
        return Reply(200, {"path": path})


@pytest.fixture
def servers():
    with Echo() as other, Echo(other.origin) as api:
        yield api, other


def client(url: str, **kwargs) -> ReadOnlyClient:
    return ReadOnlyClient(url, PROVIDER, {"authorization": f"Bearer {SECRET}"}, backoff=0.01, **kwargs)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_no_method_but_get_and_head_ever_leaves(servers, method):
    api, _ = servers
    with client(api.base_url) as c:
        with pytest.raises(ReadOnlyViolation):
            c.http.request(method, api.base_url + "/x")
        with pytest.raises(ReadOnlyViolation):
            c.get("/x", method=method)
        assert c.get("/x").json() == {"path": "/x"}
        assert c.get("/x", method="HEAD").status == 200
    assert [s.method for s in api.requests()] == ["GET", "HEAD"]


def test_the_token_does_not_follow_a_redirect_to_another_host(servers):
    api, other = servers
    with client(api.base_url) as c:
        assert c.get("/away").json() == {"path": "/landed"}
    assert api.requests()[0].headers["authorization"] == f"Bearer {SECRET}"
    assert "authorization" not in other.requests()[0].headers


def test_an_etag_is_revalidated_and_a_304_serves_the_cached_body(servers, tmp_path):
    api, _ = servers
    with client(api.base_url, cache=EtagCache(tmp_path)) as c:
        assert c.get("/etag", revalidate=True).json() == {"value": 1}
        again = c.get("/etag", revalidate=True)
        assert again.json() == {"value": 1} and again.from_cache
        assert c.stats.requests == 2 and c.stats.not_modified == 1
    assert api.requests()[1].headers["if-none-match"] == '"v1"'
    assert SECRET.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir())


def test_an_immutable_answer_is_served_from_the_cache_without_a_request(servers, tmp_path):
    api, _ = servers
    with client(api.base_url, cache=EtagCache(tmp_path)) as c:
        c.get("/tree/abc", immutable=True)
        assert c.get("/tree/abc", immutable=True).json() == {"path": "/tree/abc"}
    assert len(api.requests()) == 1


def test_pagination_does_not_follow_a_next_link_to_another_host(servers):
    api, other = servers
    with client(api.base_url) as c:
        assert list(c.pages("/list", "the list")) == [1, 2]
    assert other.requests() == []


def test_an_unreachable_host_is_a_one_line_error_without_the_token():
    with client("http://127.0.0.1:9") as c, pytest.raises(HTTPFailure) as caught:
        c.get("/x")
    message = str(caught.value)
    assert message.startswith("cannot reach Host at http://127.0.0.1:9") and SECRET not in message


@pytest.mark.parametrize("how", ["full", "bare"])
@pytest.mark.parametrize("status", [401, 403, 404, 422])
def test_a_host_quoting_the_token_in_its_error_does_not_put_it_in_the_message(servers, status, how):
    api, _ = servers
    with client(api.base_url) as c, pytest.raises(HTTPFailure) as caught:
        c.get_ok(f"/echo/{how}/{status}", "the thing")
    message = str(caught.value)
    assert caught.value.status == status and "\n" not in message
    assert SECRET not in message and SECRET[:12] not in message
    if status in (401, 422):  # these quote the host's reason
        assert "token [token] is not valid here" in message

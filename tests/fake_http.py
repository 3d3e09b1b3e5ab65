"""A threaded HTTP server on 127.0.0.1 for fake code-host APIs, recording every request.

Faults are scripted per path prefix: the next matching request gets the canned answer (a rate
limit, a 5xx, a slow answer) instead of the normal one.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


class FakeServer:
    """Subclasses implement ``answer(seen) -> Reply``; ``prefix`` is the API base path."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.seen: list[Seen] = []
        self.faults: list[tuple[str, Reply]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                seen = Seen(self.command, parts.path, query, {k.lower(): v for k, v in self.headers.items()})
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                with fake.lock:
                    fake.seen.append(seen)
                reply = fake._reply(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                data = reply.payload()
                self.send_response(reply.status)
                headers = {"content-type": "application/json; charset=utf-8", **reply.headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return self.origin + self.prefix

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fault(self, path_prefix: str, reply: Reply, times: int = 1) -> None:
        for _ in range(times):
            self.faults.append((self.prefix + path_prefix, reply))

    def _reply(self, seen: Seen) -> Reply:
        with self.lock:
            for i, (prefix, reply) in enumerate(self.faults):
                if seen.path.startswith(prefix):
                    del self.faults[i]
                    return reply
        if seen.method not in ("GET", "HEAD"):
            return Reply(405, {"message": "method not allowed by the fake"})
        if not seen.path.startswith(self.prefix):
            return Reply(404, {"message": "Not Found"})
        return self.answer(seen, seen.path[len(self.prefix) :])

    def answer(self, seen: Seen, path: str) -> Reply:
        raise NotImplementedError

    def requests(self, predicate: Callable[[Seen], bool] | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if predicate is None or predicate(s)]

    def reset(self) -> None:
        with self.lock:
            self.seen.clear()

"""The online license check: a client, and a local HTTP server that stands in for the hosted one.

Protocol: ``GET {url}/v1/licenses/{license_id}`` answers 200 with
``{"license_id": …, "status": "active" | "revoked", "time": <server UNIX time>}``, or 404
for a license the service does not know.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True)
class Validation:
    status: str  # active, revoked, unknown
    server_time: float | None


class ValidatorUnreachable(Exception):
    """The validator did not answer usably; the message says why (no secret in it)."""


def validate_online(url: str, license_id: str, timeout: float = 3.0) -> Validation:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{url}/v1/licenses/{quote(license_id, safe='')}", headers={"accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read(65536))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return Validation("unknown", None)
        raise ValidatorUnreachable(f"validator answered HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise ValidatorUnreachable(f"validator unreachable ({type(exc).__name__})") from None
    status = body.get("status") if isinstance(body, dict) else None
    if status not in ("active", "revoked"):
        raise ValidatorUnreachable("validator answer has no valid status")
    server_time = body.get("time")
    return Validation(status, float(server_time) if isinstance(server_time, int | float) else None)


class LocalValidator:
    """A license validator on 127.0.0.1: ``with LocalValidator({"lic_1": "active"}) as v: v.url``."""

    def __init__(self, licenses: dict[str, str] | None = None, port: int = 0, clock: Any = time.time) -> None:
        self.licenses = dict(licenses or {})
        self.requests: list[str] = []
        self.clock = clock
        validator = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                prefix = "/v1/licenses/"
                license_id = self.path[len(prefix) :] if self.path.startswith(prefix) else ""
                validator.requests.append(license_id)
                status = validator.licenses.get(license_id)
                if status is None:
                    self._send(404, {"error": "unknown license"})
                else:
                    self._send(200, {"license_id": license_id, "status": status, "time": validator.clock()})

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalValidator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Serve a local license validator (development stand-in).")
    parser.add_argument("--port", type=int, default=8780, help="default 8780 (8765 is `lanterna serve --http`)")
    parser.add_argument("licenses", nargs="*", help="LICENSE_ID[=active|revoked]")
    args = parser.parse_args()
    licenses = dict((item.partition("=")[0], item.partition("=")[2] or "active") for item in args.licenses)
    with LocalValidator(licenses, port=args.port) as validator:
        print(f"license validator on {validator.url}; Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()

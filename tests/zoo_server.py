"""A local HTTP server on 127.0.0.1 for the zoo's download tests: it serves fixture files with Range support, and
on request redirects, drops the connection part-way through a body, ignores Range, answers with a web page or 404.

Paths: `/files/NAME` serves the file; `/redirect/K/NAME` redirects K times (301, 302, 307, 308 in turn) before
serving; `/drop/N/NAME` sends the headers and half of the body, then closes the connection, on the first N requests;
`/norange/N/NAME` does the same but ignores Range requests (always the whole file, 200); `/html/NAME` answers with an
HTML page; anything else is 404. `server.requests` records (path, Range header) of every request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class ZooServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.drops: dict[str, int] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.requests.append((self.path, self.headers.get("Range")))
                parts = self.path.strip("/").split("/")
                kind, name = parts[0], parts[-1]
                if kind == "redirect" and int(parts[1]) > 0:
                    left = int(parts[1]) - 1
                    code = (301, 302, 307, 308)[left % 4]
                    target = f"/redirect/{left}/{name}" if left else f"/files/{name}"
                    self.send_response(code)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if name not in server.files or kind not in ("files", "redirect", "drop", "norange", "html"):
                    self.send_error(404, "Not Found")
                    return
                if kind == "html":
                    body = b"<!DOCTYPE html><html><title>Virus scan warning</title></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                data = server.files[name]
                start = 0
                ranged = self.headers.get("Range")
                if ranged and kind != "norange":
                    start = int(ranged.removeprefix("bytes=").rstrip("-"))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                key = f"{kind}/{name}"
                if kind in ("drop", "norange") and server.drops.get(key, 0) < int(parts[1]):
                    server.drops[key] = server.drops.get(key, 0) + 1
                    self.wfile.write(body[: max(1, len(body) // 2)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler


@pytest.fixture
def zoo_server() -> Iterator[ZooServer]:
    server = ZooServer()
    yield server
    server.close()

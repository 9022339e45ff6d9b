"""A real HTTP server on 127.0.0.1 (stdlib, in a thread) serving a small web site for URL ingestion
tests: pages with ETags that honour If-None-Match, redirects, a huge body streamed without a length
(counting what it managed to send) and a body that trickles."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Site:
    """`pages`: path → (content type, body); `redirects`: path → Location. Mutable while serving."""

    pages: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    big_bytes: int = 50 * 1024 * 1024
    sent_big: int = 0  # bytes of /big written before the client went away
    requests: list[str] = field(default_factory=list)
    base: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                site.requests.append(self.path)
                if self.path in site.redirects:
                    self._send(302, "text/plain", b"moved", {"Location": site.redirects[self.path]})
                elif self.path == "/big":
                    self._big()
                elif self.path == "/slow":
                    self._slow()
                elif self.path in site.pages:
                    kind, body = site.pages[self.path]
                    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                    if self.headers.get("If-None-Match") == etag:
                        self._send(304, kind, b"", {"ETag": etag})
                    else:
                        self._send(200, kind, body, {"ETag": etag})
                else:
                    self._send(404, "text/plain", b"not found")

            def _send(self, status: int, kind: str, body: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _big(self) -> None:
                """No Content-Length: the client can only stop by counting."""
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Connection", "close")
                self.end_headers()
                block = b"x" * 65536
                try:
                    while site.sent_big < site.big_bytes:
                        self.wfile.write(block)
                        site.sent_big += len(block)
                except OSError:
                    pass  # the client hung up at its cap
                self.close_connection = True

            def _slow(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                try:
                    for _ in range(1000):
                        self.wfile.write(b"z")
                        self.wfile.flush()
                        time.sleep(0.05)
                except OSError:
                    pass

        return Handler


@contextmanager
def serve(site: Site, host: str = "127.0.0.1") -> Iterator[Site]:
    server = ThreadingHTTPServer((host, 0), site.handler())
    server.daemon_threads = True
    site.base = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def html_page(title: str, body: str, links: list[str] = ()) -> bytes:
    anchors = "".join(f'<a href="{link}">{link}</a> ' for link in links)
    return (
        f"<!doctype html><html><head><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>{body}</p><p>{anchors}</p></body></html>"
    ).encode()


def sitemap(urls: list[str]) -> bytes:
    entries = "".join(f"<url><loc>{url}</loc></url>" for url in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
    ).encode()

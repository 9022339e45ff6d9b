"""The web server's request policy, in one place, in front of every route (the UI, `/gradio_api/*`,
its SSE streams and websockets, `/health`): which sites may call the app from a browser, how big a
request body may be, and the start-up checks of the login settings.

- **Origins.** A request that carries an `Origin` header (browsers send it on every cross-site
  request, on POSTs and on websocket handshakes) is served only when that origin is the app's own
  (the request's `Host`), the Space's (`https://$SPACE_HOST`) or listed in `RAG_ALLOWED_ORIGINS`.
  Any other origin gets 403 without any `Access-Control-Allow-*` header, preflights included:
  Gradio's own CORS middleware echoes any origin with credentials when the host is not localhost,
  and the login cookies are `SameSite=None`, so without this a page on any site could act as a
  signed-in visitor. Requests without `Origin` (API clients, same-origin GETs) pass: they carry no
  visitor's cookies from another site.
- **Hosts (DNS rebinding).** A page on a name its owner points at 127.0.0.1 is same-origin with
  itself, so the origin policy can't stop it from reading a local app. When the app is bound to a
  specific address (127.0.0.1 by default), or `RAG_ALLOWED_HOSTS` is set, a request is served only
  when its `Host` is an IP address (no name, no rebinding), `localhost`, a host of `$SPACE_HOST` or
  a listed name; others get 403 naming `RAG_ALLOWED_HOSTS`. The port is not compared: the
  attacker picks the name, not where the connection lands, and `ssh -L 8080:127.0.0.1:7860`
  sends `localhost:8080`. Bound to 0.0.0.0 with no list, any `Host` passes: a reverse proxy's
  public name must not lock its operator out by default (docs/SECURITY.md says what to set).
- **Body size.** `RAG_MAX_REQUEST_MB` for every request but uploads; an upload request may carry
  one upload's worth (`RAG_MAX_UPLOAD_REQUEST_MB`, plus one more file of `RAG_MAX_UPLOAD_MB` whose
  refusal the ingest reports, plus 1 MB of multipart framing). Over it: 413, before the app reads it.
- **API clients' workspace keys.** A response to Gradio's `/config` (which `gradio_client` reads
  first and whose cookies it then sends with every call) sets the cookie `rag_workspace` to a new
  random workspace key when the request carries none: an API client's private workspace is named
  by a secret the server issued, never by its session hash, which the client chooses and which
  travels in URLs (`queue/data?session_hash=…`).
- **Logins.** `RAG_REQUIRE_LOGIN` without a way to sign in is refused at start-up; with Hugging
  Face sign-in only, Gradio's upload route (which only `RAG_AUTH` protects) is closed to visitors
  who have not signed in.

No Gradio import here: this is plain ASGI.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from rag.settings import Settings
from rag.workspace.owners import WORKSPACE_COOKIE, key_owner, new_workspace_key

log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MB = 1024 * 1024
UPLOAD_PATH_SUFFIX = "/gradio_api/upload"
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
CORS_METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
WILDCARD_BINDS = ("0.0.0.0", "::", "")
HOST_HEADER = re.compile(r"(\[[0-9a-fA-F:.]+\]|[^\[\]:/?#@\\\s]+)(?::[0-9]*)?")  # host[:port], [v6][:port]
HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9])?)*")


class LoginConfigError(SystemExit):
    """The login settings can't work; the message names them (raised before anything starts)."""


# -- origins -------------------------------------------------------------------------------------


def origin_key(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin such as `https://Example.org` (port filled in); None for
    `null` and anything that is not an http(s) origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def parse_allowed_origins(spec: str) -> set[tuple[str, str, int]]:
    """`RAG_ALLOWED_ORIGINS`: comma-separated origins (`https://host[:port]`); no wildcard."""
    allowed = set()
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        key = origin_key(item)
        if item == "*" or key is None or urlsplit(item).path not in ("", "/"):
            raise ValueError(
                f"RAG_ALLOWED_ORIGINS: {item!r} is not an origin; list origins such as "
                "https://example.org or http://127.0.0.1:7860, separated by commas (no wildcard)"
            )
        allowed.add(key)
    return allowed


def space_hosts(environ: MutableMapping[str, str] | None = None) -> set[str]:
    """The Space's host names: `SPACE_HOST` is a comma-separated list when the Space has a custom
    domain (Gradio's OAuth code splits it the same way)."""
    env = os.environ if environ is None else environ
    return {h.strip().lower() for h in env.get("SPACE_HOST", "").split(",") if h.strip()}


def allowed_origins(settings: Settings, environ: MutableMapping[str, str] | None = None) -> set:
    """The origins allowed besides the request's own: `RAG_ALLOWED_ORIGINS`, the Space's, and the
    configured address when it is a specific one (not 0.0.0.0)."""
    allowed = parse_allowed_origins(settings.web.allowed_origins)
    allowed |= {("https", host, 443) for host in space_hosts(environ)}
    if settings.web.host not in WILDCARD_BINDS:
        host = settings.web.host.lower().strip("[]")
        allowed.add(("http", host, settings.web.port))
    return allowed


def same_origin(origin: tuple[str, str, int], host_header: str) -> bool:
    """Whether the origin names the host the request was sent to (the `Host` header; without a
    port there, the origin scheme's default port)."""
    if not host_header:
        return False
    try:
        parts = urlsplit("//" + host_header.strip())
        port = parts.port
    except ValueError:
        return False
    scheme, host, origin_port = origin
    return (parts.hostname or "").lower() == host and (port or DEFAULT_PORTS[scheme]) == origin_port


# -- hosts (DNS rebinding) ----------------------------------------------------------------------


def parse_allowed_hosts(spec: str) -> set[str]:
    """`RAG_ALLOWED_HOSTS`: comma-separated host names (`rag.example.org`); no port, no wildcard."""
    allowed = set()
    for item in (part.strip().lower().rstrip(".") for part in spec.split(",")):
        if not item:
            continue
        if not HOST_NAME.fullmatch(item):
            raise ValueError(
                f"RAG_ALLOWED_HOSTS: {item!r} is not a host name; list names such as rag.example.org, "
                "separated by commas (no scheme, port or wildcard)"
            )
        allowed.add(item)
    return allowed


def allowed_hosts(settings: Settings, environ: MutableMapping[str, str] | None = None) -> set[str] | None:
    """The names a request's `Host` may carry besides IP addresses; None: any (bound to every
    address with no `RAG_ALLOWED_HOSTS`)."""
    listed = parse_allowed_hosts(settings.web.allowed_hosts)
    bound = settings.web.host.lower().strip("[]")
    if bound in WILDCARD_BINDS and not listed:
        return None
    return listed | space_hosts(environ) | {"localhost"} | ({bound} - set(WILDCARD_BINDS))


def host_allowed(host_header: str, allowed: set[str] | None) -> bool:
    """Whether a request's `Host` passes the allow-list: an IP address always does (a browser sends
    one only to that address, so nothing was rebound); a name must be listed. No `Host` (HTTP/1.0
    clients) passes: browsers always send one."""
    if allowed is None or not host_header:
        return True
    parts = HOST_HEADER.fullmatch(host_header.strip())
    if parts is None:  # userinfo, a path or a second colon: no browser sends that
        return False
    name = parts.group(1).strip("[]").lower().rstrip(".")
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return name in allowed


# -- the middleware ------------------------------------------------------------------------------


class WebGuard:
    """ASGI middleware: the origin policy and the body-size caps (see the module's docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        allowed: Iterable[tuple[str, str, int]] = (),
        max_request_bytes: int = 2 * MB,
        max_upload_bytes: int = 251 * MB,
        hosts: set[str] | None = None,
    ) -> None:
        self.app = app
        self.allowed = set(allowed)
        self.hosts = hosts
        self.max_request_bytes = max_request_bytes
        self.max_upload_bytes = max_upload_bytes

    @classmethod
    def limits(cls, settings: Settings) -> dict[str, int]:
        upload_mb = settings.limits.max_upload_request_mb + settings.limits.max_upload_mb + 1
        return {"max_request_bytes": settings.limits.max_request_mb * MB, "max_upload_bytes": upload_mb * MB}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        origin = headers.get("origin")
        if not host_allowed(headers.get("host", ""), self.hosts):
            log.warning(
                "refused a %s request to %s for host %r", scope["type"], scope["path"], headers["host"]
            )
            await _refuse(
                scope,
                receive,
                send,
                "Unknown host name: the app answers only to the names it is configured for "
                "(the operator can add this one to RAG_ALLOWED_HOSTS).",
            )
            return
        if origin is not None and not self.origin_allowed(origin, headers.get("host", "")):
            log.warning("refused a %s request to %s from origin %r", scope["type"], scope["path"], origin)
            await _refuse(
                scope,
                receive,
                send,
                "Cross-site request refused: this site is not allowed to call the app "
                "(the operator can allow it with RAG_ALLOWED_ORIGINS).",
            )
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        if origin is not None and scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(send, origin, headers.get("access-control-request-headers"))
            return
        if origin is not None:
            send = _with_cors(send, origin)
        await self._limited(scope, receive, send, headers)

    def origin_allowed(self, origin: str, host: str) -> bool:
        key = origin_key(origin)
        return key is not None and (key in self.allowed or same_origin(key, host))

    async def _preflight(self, send: Send, origin: str, requested_headers: str | None) -> None:
        headers = [
            *_cors_headers(origin),
            (b"access-control-allow-methods", CORS_METHODS.encode()),
            (b"access-control-max-age", b"600"),
        ]
        if requested_headers:
            headers.append((b"access-control-allow-headers", requested_headers.encode("latin-1")))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _limited(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        upload = scope["path"].endswith(UPLOAD_PATH_SUFFIX)
        limit = self.max_upload_bytes if upload else self.max_request_bytes
        message = (
            f"The upload is over {limit // MB} MB in one request "
            "(RAG_MAX_UPLOAD_REQUEST_MB + RAG_MAX_UPLOAD_MB)."
            if upload
            else f"The request is over {limit // MB} MB (RAG_MAX_REQUEST_MB)."
        )
        try:
            declared = int(headers.get("content-length", "0") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            await _plain(send, 413, message)
            return
        received = 0
        over = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, over
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > limit:
                    over = True
                    return {"type": "http.disconnect"}  # the app stops reading; we answer 413
            return event

        async def watched_send(event: Message) -> None:
            nonlocal started
            if over and not started:
                return  # whatever the app says to a body it could not read, the answer is 413
            started = started or event["type"] == "http.response.start"
            await send(event)

        try:
            await self.app(scope, counted_receive, watched_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await _plain(send, 413, message)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cors_headers(origin: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"Origin"),
    ]


def _with_cors(send: Send, origin: str) -> Send:
    """For an allowed origin: the CORS headers are ours, whatever the app set."""

    async def cors_send(event: Message) -> None:
        if event["type"] == "http.response.start":
            kept = [
                (k, v)
                for k, v in event.get("headers", [])
                if not k.lower().startswith(b"access-control-allow-") and k.lower() != b"vary"
            ]
            event = {**event, "headers": kept + _cors_headers(origin)}
        await send(event)

    return cors_send


async def _refuse(scope: Scope, receive: Receive, send: Send, text: str) -> None:
    """403 with the reason; a websocket is closed before it is accepted (the client sees 403)."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})
    else:
        await _plain(send, 403, text)


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- logins --------------------------------------------------------------------------------------


def check_login_methods(settings: Settings, hf_oauth: bool) -> None:
    """`RAG_REQUIRE_LOGIN=true` needs a way to sign in; without one every page load would fail."""
    if settings.web.require_login and not settings.web.auth.strip() and not hf_oauth:
        raise LoginConfigError(
            "RAG_REQUIRE_LOGIN=true but no login method is configured: set RAG_AUTH=user:password,... "
            "or run on a Hugging Face Space with `hf_oauth: true` in its README front matter "
            "(which sets OAUTH_CLIENT_ID), or unset RAG_REQUIRE_LOGIN to allow anonymous workspaces."
        )


class SignedInUploads:
    """Inside Gradio's app, just after its OAuth session middleware: an upload needs a signed-in
    Hugging Face session (Gradio checks logins on `/upload` only for its own `auth`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith(UPLOAD_PATH_SUFFIX):
            session = scope.get("session") or {}
            if not session.get("oauth_info"):
                await _plain(send, 401, "Sign in first: uploads need a signed-in user (RAG_REQUIRE_LOGIN).")
                return
        await self.app(scope, receive, send)


def close_anonymous_uploads(server: Any) -> bool:
    """Put `SignedInUploads` inside the mounted Gradio app, right after its session middleware (or
    first, if there is none: then no upload passes). Returns whether a session middleware was found."""
    from starlette.middleware import Middleware

    for route in getattr(server, "routes", []):
        inner = getattr(route, "app", None)
        stack = getattr(inner, "user_middleware", None)
        if stack is None:
            continue
        names = [getattr(m.cls, "__name__", "") for m in stack]
        position = names.index("SessionMiddleware") + 1 if "SessionMiddleware" in names else 0
        stack.insert(position, Middleware(SignedInUploads))
        return position > 0
    raise RuntimeError("no mounted Gradio app found to close anonymous uploads on")


# -- API clients' workspace keys -----------------------------------------------------------------


class WorkspaceCookie:
    """Sets `rag_workspace` (a new workspace key) on `/config` responses to requests without a
    valid one: `gradio_client` keeps the cookies of its `/config` answer for the client's life."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].endswith("/config"):
            await self.app(scope, receive, send)
            return
        if key_owner(request_cookies(_headers(scope)).get(WORKSPACE_COOKIE, "")) is not None:
            await self.app(scope, receive, send)
            return
        cookie = f"{WORKSPACE_COOKIE}={new_workspace_key()}; Path=/; HttpOnly; SameSite=Strict"

        async def with_cookie(event: Message) -> None:
            if event["type"] == "http.response.start" and event.get("status") == 200:
                event = {**event, "headers": [*event.get("headers", []), (b"set-cookie", cookie.encode())]}
            await send(event)

        await self.app(scope, receive, with_cookie)


def request_cookies(headers: dict[str, str]) -> dict[str, str]:
    cookies = {}
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            cookies[name] = value
    return cookies


def guard(server: Any, settings: Settings, hf_oauth: bool) -> None:
    """Apply the whole policy to the FastAPI server that has the Gradio app mounted."""
    if settings.web.require_login and not settings.web.auth.strip() and hf_oauth:
        close_anonymous_uploads(server)
    server.add_middleware(WorkspaceCookie)  # inside the guard: refused requests get no key
    server.add_middleware(
        WebGuard,
        allowed=allowed_origins(settings),
        hosts=allowed_hosts(settings),
        **WebGuard.limits(settings),
    )

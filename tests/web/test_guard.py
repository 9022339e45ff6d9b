"""The request policy in front of the web app (`rag/web/guard.py`), on a bare ASGI app: origins,
CORS headers, body caps (declared and streamed), websockets, and the login start-up checks. The
same policy against the real app served by uvicorn: tests/reliability/test_cross_site.py."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from rag.settings import Settings
from rag.web.guard import (
    MB,
    LoginConfigError,
    SignedInUploads,
    WebGuard,
    WorkspaceCookie,
    allowed_hosts,
    allowed_origins,
    check_login_methods,
    close_anonymous_uploads,
    parse_allowed_hosts,
    parse_allowed_origins,
)


async def echo_app(scope, receive, send):
    """Reads the whole body, answers with its length; sets a reflecting CORS header like Gradio's."""
    size = 0
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            raise RuntimeError("client disconnected")  # what Starlette does: the guard answers 413
        size += len(event.get("body", b""))
        if not event.get("more_body"):
            break
    headers = [(b"access-control-allow-origin", b"https://evil.example"), (b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": str(size).encode()})


def guarded(**kwargs) -> httpx.Client:
    app = WebGuard(echo_app, **kwargs)
    return httpx.Client(transport=httpx.ASGITransport(app=app), base_url="http://rag.example.org")


def call(client: httpx.Client, method: str, path: str, **kwargs) -> httpx.Response:
    async def run():
        async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as c:
            return await c.request(method, path, **kwargs)

    return asyncio.run(run())


def test_foreign_origins_get_403_and_no_cors_headers_own_and_listed_origins_pass():
    client = guarded(allowed={("https", "embed.example.com", 443)})
    for method, headers in [
        ("OPTIONS", {"access-control-request-method": "POST"}),
        ("POST", {"cookie": "access-token=x"}),
        ("GET", {}),
    ]:
        refused = call(
            client, method, "/gradio_api/queue/join", headers={"origin": "https://evil.example", **headers}
        )
        assert refused.status_code == 403, method
        assert "RAG_ALLOWED_ORIGINS" in refused.text
        assert not [k for k in refused.headers if k.startswith("access-control")], refused.headers
    for origin in ("null", "https://rag.example.org.evil.example", "http://rag.example.org:8080", "file://"):
        assert call(client, "GET", "/", headers={"origin": origin}).status_code == 403, origin

    own = call(client, "POST", "/x", headers={"origin": "http://rag.example.org"}, content=b"abc")
    assert own.status_code == 200 and own.text == "3"
    assert own.headers["access-control-allow-origin"] == "http://rag.example.org"  # not the app's echo
    listed = call(
        client,
        "OPTIONS",
        "/gradio_api/upload",
        headers={"origin": "https://embed.example.com", "access-control-request-method": "POST"},
    )
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == "https://embed.example.com"
    behind_tls = {"host": "rag.example.org:443", "origin": "https://rag.example.org"}
    assert call(client, "GET", "/", headers=behind_tls).status_code == 200
    assert call(client, "GET", "/").status_code == 200  # no Origin: API clients, plain navigation


def test_the_default_list_holds_the_space_and_a_specific_bind_address_and_refuses_wildcards():
    settings = Settings.from_env({}, host="127.0.0.1", port=7860, allowed_origins="https://A.example:8443")
    assert allowed_origins(settings, {"SPACE_HOST": "me-rag.hf.space"}) == {
        ("https", "a.example", 8443),
        ("https", "me-rag.hf.space", 443),
        ("http", "127.0.0.1", 7860),
    }
    assert allowed_origins(Settings.from_env({}, host="0.0.0.0"), {}) == set()
    for bad in ("*", "evil", "https://x.example/path", "ftp://x.example"):
        with pytest.raises(ValueError, match="RAG_ALLOWED_ORIGINS"):
            parse_allowed_origins(bad)


def test_which_host_names_are_checked_and_which_pass():
    """Bound to a specific address (the default), or with RAG_ALLOWED_HOSTS: names must be listed;
    bound to every address with no list: any Host (a proxy's public name is unknown)."""
    space = {"SPACE_HOST": "me-rag.hf.space,rag.example.com"}  # a custom domain makes it a list
    local = allowed_hosts(Settings.from_env({}, host="127.0.0.1"), space)
    assert local == {"localhost", "127.0.0.1", "me-rag.hf.space", "rag.example.com"}
    assert allowed_hosts(Settings.from_env({}, host="0.0.0.0"), space) is None
    listed = Settings.from_env({}, host="0.0.0.0", allowed_hosts="RAG.example.org., b.example")
    assert allowed_hosts(listed, {}) == {"rag.example.org", "b.example", "localhost"}
    for bad in ("*", "*.example.org", "https://x.example", "x.example:8080", "a..b"):
        with pytest.raises(ValueError, match="RAG_ALLOWED_HOSTS"):
            parse_allowed_hosts(bad)


def test_a_host_name_not_allowed_gets_403_ips_and_listed_names_pass():
    client = guarded(hosts={"localhost", "rag.example.org"})
    for host in (
        "rebound.example",
        "rebound.example:7860",
        "localhost.evil.example",
        "[bad",
        "rebound.example@localhost",
        "localhost/x",
        "localhost:1:2",
    ):
        refused = call(client, "GET", "/", headers={"host": host, "origin": f"http://{host}"})
        assert refused.status_code == 403 and "RAG_ALLOWED_HOSTS" in refused.text, host
    for host in (
        "rag.example.org",
        "LOCALHOST:8080",
        "localhost.",
        "127.0.0.1:7860",
        "[::1]:7860",
        "10.0.0.7",
    ):
        assert call(client, "GET", "/", headers={"host": host}).status_code == 200, host


def test_bodies_over_the_cap_get_413_whether_declared_or_streamed():
    client = guarded(max_request_bytes=1 * MB, max_upload_bytes=3 * MB)
    big = b"x" * (2 * MB)
    declared = call(client, "POST", "/gradio_api/queue/join", content=big)
    assert declared.status_code == 413 and "RAG_MAX_REQUEST_MB" in declared.text

    async def chunks():
        for _ in range(8):
            yield b"y" * (256 * 1024)

    streamed = call(client, "POST", "/gradio_api/queue/join", content=chunks())  # chunked, no length
    assert streamed.status_code == 413 and "RAG_MAX_REQUEST_MB" in streamed.text
    upload = call(client, "POST", "/gradio_api/upload", content=big)  # uploads have their own cap
    assert upload.status_code == 200 and upload.text == str(len(big))
    too_big = call(client, "POST", "/gradio_api/upload", content=b"z" * (4 * MB))
    assert too_big.status_code == 413 and "RAG_MAX_UPLOAD_REQUEST_MB" in too_big.text


@pytest.mark.parametrize(
    "host, origin", [("a.example", "https://evil.example"), ("rebound.example", "http://rebound.example")]
)
def test_websockets_from_a_foreign_origin_or_host_are_closed_before_accept(host, origin):
    sent: list[dict] = []

    async def inner(scope, receive, send):
        raise AssertionError("the app must not see it")

    async def run() -> None:
        events = iter([{"type": "websocket.connect"}])

        async def receive():
            return next(events)

        async def send(message):
            sent.append(message)

        scope = {
            "type": "websocket",
            "path": "/ws",
            "headers": [(b"host", host.encode()), (b"origin", origin.encode())],
        }
        await WebGuard(inner, hosts={"a.example"})(scope, receive, send)

    asyncio.run(run())
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_require_login_without_a_login_method_refuses_to_start():
    with pytest.raises(LoginConfigError, match=r"RAG_REQUIRE_LOGIN.*RAG_AUTH"):
        check_login_methods(Settings.from_env({"RAG_REQUIRE_LOGIN": "true"}), hf_oauth=False)
    check_login_methods(Settings.from_env({"RAG_REQUIRE_LOGIN": "true", "RAG_AUTH": "a:b"}), hf_oauth=False)
    check_login_methods(Settings.from_env({"RAG_REQUIRE_LOGIN": "true"}), hf_oauth=True)
    check_login_methods(Settings.from_env({}), hf_oauth=False)


def test_with_hugging_face_login_only_uploads_need_a_signed_in_session():
    """Gradio's OAuth keeps the sign-in in Starlette's session (scope["session"]["oauth_info"]);
    a stand-in session middleware (the real one needs gradio[oauth]) fills it from a header."""
    from fastapi import FastAPI
    from starlette.middleware import Middleware

    class SessionMiddleware:  # the name close_anonymous_uploads looks for
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] == "http":
                signed_in = dict(scope["headers"]).get(b"x-test-user")
                scope["session"] = {"oauth_info": {"user": signed_in.decode()}} if signed_in else {}
            await self.app(scope, receive, send)

    gradio_app = FastAPI()
    gradio_app.user_middleware.append(Middleware(SessionMiddleware))
    gradio_app.post("/gradio_api/upload")(lambda: ["/tmp/file"])
    server = FastAPI()
    server.mount("", gradio_app)
    assert close_anonymous_uploads(server) is True
    assert [m.cls for m in gradio_app.user_middleware] == [SessionMiddleware, SignedInUploads]
    client = httpx.Client(transport=httpx.ASGITransport(app=server), base_url="http://a.example")
    anonymous = call(client, "POST", "/gradio_api/upload")
    assert anonymous.status_code == 401 and "Sign in" in anonymous.text
    assert call(client, "POST", "/gradio_api/upload", headers={"x-test-user": "ann"}).status_code == 200


def test_config_answers_give_each_api_client_a_workspace_key_of_its_own():
    """Issue 19, point 9: `gradio_client` keeps the cookies of its `/config` answer, so that answer
    hands it a new random workspace key (unless it brings a valid one); nothing else sets it."""
    from rag.workspace.owners import WORKSPACE_COOKIE, key_owner

    client = httpx.Client(transport=httpx.ASGITransport(app=WorkspaceCookie(echo_app)), base_url="http://x")

    def issued(path: str = "/config", cookie: str = "") -> str | None:
        response = call(client, "GET", path, headers={"cookie": cookie} if cookie else {})
        setting = response.headers.get("set-cookie")
        if setting is None:
            return None
        assert "HttpOnly" in setting and "SameSite=Strict" in setting
        return response.cookies[WORKSPACE_COOKIE]

    first, second = issued(), issued()
    assert key_owner(first) and key_owner(second) and first != second
    assert issued(cookie=f"{WORKSPACE_COOKIE}={first}; other=1") is None  # its own key is kept
    assert key_owner(issued(cookie=f"{WORKSPACE_COOKIE}=../../anon:x"))  # not a key: a new one
    assert issued("/gradio_api/info") is None and issued("/") is None

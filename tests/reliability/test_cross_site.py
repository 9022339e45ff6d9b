"""Security audit (issue 19, points 1, 4, 10, 15) against the real app (`python app.py`, uvicorn on
127.0.0.1, fake LLM, `RAG_AUTH` logins): a page on another site can't act as a signed-in visitor,
request bodies and the counts inside them are capped, unexpected exception texts stay in the log,
and `RAG_REQUIRE_LOGIN` without a login method refuses to start.

`Host: rag.example.org` stands for a public deployment (a Space, a proxy): there Gradio's own CORS
middleware echoed any `Origin` with credentials allowed; on 127.0.0.1 it doesn't echo, but it
still served the request."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from gradio_client import Client

from tests.e2e.conftest import ARTIFACTS, ROOT, start_app, stop_app
from tests.engine_support import free_port
from tests.reliability.conftest import refusal

EVIL = "https://evil.example"
PUBLIC_HOST = "rag.example.org"
LOG = ARTIFACTS / "app-cross-site.log"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    data = tmp_path_factory.mktemp("cross-site")
    process, url = start_app(
        data,
        LOG,
        RAG_LLM_BACKEND="fake",
        RAG_AUTH="ann:pw-a",
        RAG_MAX_UPLOAD_MB="1",
        RAG_MAX_UPLOAD_REQUEST_MB="1",  # an upload request may carry 1 + 1 + 1 MB
        RAG_ALLOWED_HOSTS=PUBLIC_HOST,  # the app is bound to 127.0.0.1: other names are refused
    )
    yield url, data
    stop_app(process)


def login_cookies(url: str) -> str:
    """Ann signs in as a browser would; her cookies, as a Cookie header."""
    response = httpx.post(url + "login", data={"username": "ann", "password": "pw-a"})
    assert response.status_code == 200, response.text
    return "; ".join(f"{c.name}={c.value}" for c in response.cookies.jar)


def fn_index(url: str, cookie: str, api_name: str) -> int:
    config = httpx.get(url + "config", headers={"cookie": cookie}).json()
    return next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)


def no_cors(response: httpx.Response) -> bool:
    return not [k for k in response.headers if k.lower().startswith("access-control-")] and (
        "evil.example" not in str(response.headers)
    )


@pytest.mark.parametrize("host", [PUBLIC_HOST, None])
def test_a_page_on_another_site_cannot_call_the_app_with_the_visitors_login(site, host):
    url, _ = site
    cookie = login_cookies(url)
    join = {"data": [""], "fn_index": fn_index(url, cookie, "list_documents"), "session_hash": "evil1"}
    sent = {"origin": EVIL, "cookie": cookie} | ({"host": host} if host else {})
    with httpx.Client(base_url=url, timeout=10) as http:
        for path in ("gradio_api/queue/join", "gradio_api/upload"):
            preflight = http.options(
                path,
                headers=sent
                | {"access-control-request-method": "POST", "access-control-request-headers": "content-type"},
            )
            assert preflight.status_code == 403 and no_cors(preflight), (path, preflight.headers)
        joined = http.post("gradio_api/queue/join", json=join, headers=sent)
        assert joined.status_code == 403 and no_cors(joined), (joined.status_code, joined.headers)
        assert "RAG_ALLOWED_ORIGINS" in joined.text
        uploaded = http.post("gradio_api/upload", files={"files": ("x.md", b"# stolen")}, headers=sent)
        assert uploaded.status_code == 403 and no_cors(uploaded), (uploaded.status_code, uploaded.text)
        config = http.get("config", headers=sent)
        assert config.status_code == 403 and no_cors(config)
        with http.stream(
            "GET", "gradio_api/queue/data", params={"session_hash": "evil1"}, headers=sent
        ) as sse:
            assert sse.status_code == 403 and no_cors(sse)


def test_the_apps_own_origin_still_works(site):
    url, _ = site
    cookie = login_cookies(url)
    join = {"data": [""], "fn_index": fn_index(url, cookie, "list_documents"), "session_hash": "own1"}
    own = url.rstrip("/")
    for headers in ({"origin": own}, {"origin": f"https://{PUBLIC_HOST}", "host": PUBLIC_HOST}):
        origin = headers["origin"]
        with httpx.Client(base_url=url, timeout=10, headers={"cookie": cookie} | headers) as http:
            preflight = http.options(
                "gradio_api/queue/join", headers={"access-control-request-method": "POST"}
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == origin
            joined = http.post("gradio_api/queue/join", json=join)
            assert joined.status_code == 200 and "event_id" in joined.json(), joined.text
            assert joined.headers["access-control-allow-origin"] == origin
            uploaded = http.post("gradio_api/upload", files={"files": ("mine.md", b"# mine")})
            assert uploaded.status_code == 200, uploaded.text


def test_a_name_rebound_to_127_0_0_1_is_refused_on_every_route(site):
    """DNS rebinding: a page on rebound.example (which its owner points at 127.0.0.1) is
    same-origin with itself, so `Origin` and `Host` agree and the origin policy lets it through.
    Only the `Host` allow-list stops it: loopback names and addresses and RAG_ALLOWED_HOSTS pass.
    (Gradio 6 serves no websocket route; tests/web/test_guard.py checks the guard closes them.)"""
    url, _ = site
    port = urlsplit(url).port
    cookie = login_cookies(url)
    rebound = f"rebound.example:{port}"
    sent = {"host": rebound, "origin": f"http://{rebound}", "cookie": cookie}
    join = {"data": [""], "fn_index": fn_index(url, cookie, "list_documents"), "session_hash": "dns1"}
    with httpx.Client(base_url=url, timeout=10, headers=sent) as http:
        answers = [
            http.get(""),
            http.get("config"),
            http.get("health"),
            http.post("gradio_api/queue/join", json=join),
            http.post("gradio_api/upload", files={"files": ("x.md", b"# rebound")}),
            httpx.get(url + "health", headers={"host": rebound}),  # no Origin: a plain navigation
        ]
        with http.stream("GET", "gradio_api/queue/data", params={"session_hash": "dns1"}) as sse:
            sse.read()
            answers.append(sse)
        for answer in answers:
            assert answer.status_code == 403, (answer.request.url, answer.status_code)
            assert "RAG_ALLOWED_HOSTS" in answer.text and no_cors(answer), answer.request.url
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", PUBLIC_HOST, "LocalHost"):
        own = httpx.get(url + "config", headers={"host": host, "cookie": cookie}, timeout=10)
        assert own.status_code == 200, (host, own.status_code, own.text[:200])
    assert httpx.get(url + "health", headers={"host": f"localhost:{port}"}, timeout=30).status_code in (
        200,
        503,
    )


def test_request_bodies_are_capped(site):
    url, _ = site
    cookie = login_cookies(url)
    with httpx.Client(base_url=url, timeout=30, headers={"cookie": cookie}) as http:
        body = b'{"data": ["' + b"x" * (3 * 1024 * 1024) + b'"], "fn_index": 0, "session_hash": "big"}'
        big = http.post("gradio_api/queue/join", content=body, headers={"content-type": "application/json"})
        assert big.status_code == 413 and "RAG_MAX_REQUEST_MB" in big.text, (big.status_code, big.text[:200])
        # five files under the 1 MB file limit, 4 MB together: over one upload's worth (3 MB)
        files = [("files", (f"part-{i}.txt", b"y" * 800_000)) for i in range(5)]
        upload = http.post("gradio_api/upload", files=files)
        assert upload.status_code == 413 and "RAG_MAX_UPLOAD_REQUEST_MB" in upload.text, upload.status_code
        one = http.post("gradio_api/upload", files=[files[0]])
        assert one.status_code == 200


def test_history_messages_and_selected_documents_are_counted(site):
    url, _ = site
    client = Client(url, auth=("ann", "pw-a"), verbose=False)
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": []} for i in range(20_000)]
    error, seconds = refusal(lambda: client.predict("Why?", history, [], False, api_name="/chat"))
    assert "RAG_MAX_HISTORY_MESSAGES" in error and seconds < 5, (error, seconds)

    note = ARTIFACTS / "cross-site-note.md"
    note.write_text("# Note\n\nThe heron nests by the pier.")
    from gradio_client import handle_file

    client.predict([handle_file(str(note))], api_name="/ingest")
    documents, *_ = client.predict(api_name="/list_documents")
    ids = [documents[0]["id"]] * 1_500
    error, seconds = refusal(lambda: client.predict("Herons?", [], ids, True, api_name="/chat"))
    assert "RAG_MAX_SELECTED_DOCUMENTS" in error and seconds < 5, (error, seconds)


def test_unexpected_errors_reach_the_log_not_the_visitor(site):
    """The conversation store breaks (its file turns into a folder): the answer can't be saved.
    The visitor gets Gradio's generic error; the exception's text goes to the server log only."""
    url, data = site
    client = Client(url, auth=("ann", "pw-a"), verbose=False)
    store = Path(data) / "conversations.db"
    for path in Path(data).glob("conversations.db*"):
        path.unlink()
    store.mkdir()
    try:
        error, _ = refusal(lambda: client.predict("Herons?", [], [], False, api_name="/chat"))
    finally:
        shutil.rmtree(store)
    assert "unable to open database file" not in error and "conversations" not in error, error
    assert str(data) not in error
    deadline = time.monotonic() + 10
    while "unable to open database file" not in LOG.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "unable to open database file" in LOG.read_text()


def test_require_login_without_a_login_method_refuses_to_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RAG_AUTH", "OAUTH_CLIENT_ID", "SPACE_ID")}
    env |= {"RAG_REQUIRE_LOGIN": "true", "RAG_DATA_DIR": str(tmp_path), "RAG_LLM_BACKEND": "fake"}
    env |= {"RAG_EMBED_MODEL": "packaged", "RAG_PORT": str(free_port()), "GRADIO_ANALYTICS_ENABLED": "False"}
    done = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert "RAG_REQUIRE_LOGIN=true but no login method" in done.stderr and "RAG_AUTH" in done.stderr
    assert not list(tmp_path.iterdir())  # refused before anything was created

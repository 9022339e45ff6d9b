"""Add by URL through the running app (`gradio_client`, so through the request guard): a page from a
local server goes into the caller's workspace under its URL; a redirect to an address the operator
did not allow is refused with the reason; Stop with nothing running says so."""

from __future__ import annotations

from gradio_client import Client

from tests.e2e.conftest import ARTIFACTS, start_app, stop_app
from tests.ingest.web_site import Site, html_page, serve


def test_a_url_goes_into_the_workspace_and_a_private_redirect_is_refused(tmp_path):
    page = html_page("Tides", "High tide at the pier is at noon.")
    inner = Site(pages={"/secret": ("text/plain", b"intranet only")})
    with serve(inner, "127.0.0.2"), serve(Site(pages={"/tides.html": ("text/html", page)})) as site:
        site.redirects["/jump"] = inner.base + "/secret"
        env = {"RAG_LLM_BACKEND": "fake", "RAG_ALLOW_PRIVATE_URLS": "127.0.0.1"}
        process, url = start_app(tmp_path / "data", ARTIFACTS / "app-url-ingest.log", **env)
        try:
            client = Client(url, verbose=False)
            added = client.predict(site.base + "/tides.html", False, api_name="/ingest_url")[0]
            assert f"{site.base}/tides.html: added (1 chunks)" in added
            refused = client.predict(site.base + "/jump", False, api_name="/ingest_url")[0]
            hop = f"redirected to {inner.base}/secret"
            assert f"{site.base}/jump: failed: {hop}: refused: 127.0.0.2 is a loopback" in refused
            documents = client.predict(api_name="/list_documents")[0]
            assert [d["name"] for d in documents if not d["shared"]] == [f"{site.base}/tides.html"]
            client.predict(api_name="/stop_ingest")  # nothing running: a toast, no error
        finally:
            stop_app(process)
    assert inner.requests == []

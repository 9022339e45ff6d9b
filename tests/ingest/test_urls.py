"""URL ingestion end to end: a real HTTP server on 127.0.0.1, real Milvus Lite, the packaged MiniLM.
The good pages are stored and found with their URL as their source; the bad ones fail with a
reason naming the URL and leave the store alone."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from rag.assistant import Assistant
from rag.generation.llm import LLM
from rag.ingest.pipeline import SourceFile
from rag.types import SHARED_OWNER
from tests.conftest import make_settings
from tests.ingest.web_site import Site, html_page, serve, sitemap
from tests.samples import make_pdf

TOPICS = [
    "lighthouse keepers", "beekeeping", "sourdough baking", "glacier formation", "violin making",
    "tide pools", "falconry", "paper marbling", "coral reefs", "clock repair",
]  # fmt: skip


def site_pages() -> dict[str, tuple[str, bytes]]:
    pages = {
        "/docs/orchard.html": (
            "text/html; charset=utf-8",
            html_page("Orchard care", "Apple trees need pruning every winter before the buds open."),
        ),
        "/docs/manual": ("application/pdf", make_pdf(["The pump is primed by opening the red valve twice."])),
        "/sitemap.xml": ("application/xml", sitemap([])),
    }
    for i in range(30):
        topic = TOPICS[i % len(TOPICS)]
        body = f"Page {i} of the handbook is about {topic}; its code word is marker{i}."
        pages[f"/site/p{i}.html"] = ("text/html", html_page(f"Handbook {i}", body))
    return pages


@pytest.fixture
def site():
    with serve(Site(pages=site_pages())) as running:
        running.pages["/sitemap.xml"] = (
            "application/xml",
            sitemap([f"{running.base}/site/p{i}.html" for i in range(30)]),
        )
        yield running


def build(tmp_path, embedder, fake_backend, **overrides) -> Assistant:
    settings = make_settings(tmp_path / "data", **overrides)
    return Assistant(settings, embedder, LLM(settings, fake_backend))


@pytest.fixture
def allowed(tmp_path, embedder, fake_backend):
    built = build(
        tmp_path,
        embedder,
        fake_backend,
        allow_private_urls="127.0.0.1",
        fetch_timeout_s=2.0,
        max_upload_mb=10,
    )
    yield built
    built.close()


def test_html_and_pdf_pages_are_stored_and_found_with_their_url(site, allowed):
    page, pdf = site.base + "/docs/orchard.html", site.base + "/docs/manual"
    results = allowed.ingest_url(page, SHARED_OWNER) + allowed.ingest_url(pdf, SHARED_OWNER)
    assert [(r.source, r.status) for r in results] == [(page, "added"), (pdf, "added")]
    hits = allowed.retrieve("When are apple trees pruned?", SHARED_OWNER).hits
    assert hits[0].chunk.source == page and "pruning every winter" in hits[0].chunk.text
    hits = allowed.retrieve("How is the pump primed?", SHARED_OWNER).hits
    assert hits[0].chunk.source == pdf and hits[0].chunk.page == 1
    assert {d.source for d in allowed.documents(SHARED_OWNER)} == {page, pdf}


def test_a_sitemap_of_30_pages_is_ingested_page_by_page(site, allowed):
    messages: list[str] = []
    results = allowed.ingest_url(site.base + "/sitemap.xml", SHARED_OWNER, lambda f, m: messages.append(m))
    urls = [f"{site.base}/site/p{i}.html" for i in range(30)]
    assert [(r.source, r.status) for r in results] == [(url, "added") for url in urls]
    for i, url in enumerate(urls):  # per-page progress, naming each page
        assert any(m.startswith(f"page {i + 1}: {url}") for m in messages)
    hits = allowed.retrieve("marker17", SHARED_OWNER, k=3).hits
    assert any(h.chunk.source == urls[17] for h in hits)


def test_follow_takes_the_linked_pages_under_the_same_folder_two_links_deep(site, allowed):
    base = site.base
    site.pages["/guide/index.html"] = (
        "text/html",
        html_page("Guide", "Start here.", ["a.html", "/outside.html"]),
    )
    site.pages["/guide/a.html"] = ("text/html", html_page("A", "Alpha page.", ["b.html", "index.html"]))
    site.pages["/guide/b.html"] = ("text/html", html_page("B", "Beta page.", ["c.html"]))
    site.pages["/guide/c.html"] = ("text/html", html_page("C", "Gamma page, three links away."))
    site.pages["/outside.html"] = ("text/html", html_page("Out", "Not under /guide/."))
    results = allowed.ingest_url(base + "/guide/index.html", SHARED_OWNER, follow=True)
    assert [r.source for r in results] == [f"{base}/guide/{p}.html" for p in ("index", "a", "b")]
    assert "/guide/c.html" not in site.requests and "/outside.html" not in site.requests


def test_the_page_cap_stops_a_sitemap(site, tmp_path, embedder, fake_backend):
    capped = build(tmp_path, embedder, fake_backend, allow_private_urls="127.0.0.1", max_crawl_pages=5)
    try:
        results = capped.ingest_url(site.base + "/sitemap.xml", SHARED_OWNER)
    finally:
        capped.close()
    assert len(results) == 5 and all(r.status == "added" for r in results)


def test_bad_urls_are_refused_with_the_url_and_the_reason_and_store_nothing(site, allowed):
    inner = Site(pages={"/secret": ("text/plain", b"intranet only")})
    with serve(inner, "127.0.0.2"):
        site.redirects["/jump"] = inner.base + "/secret"
        refused = {
            "/jump": "127.0.0.2 is a loopback address",
            "/big": "larger than the 10 MB limit (RAG_MAX_UPLOAD_MB)",
            "/slow": "took over 2 s (RAG_FETCH_TIMEOUT_S)",
            "/nowhere": "answered 404",
        }
        for path, reason in refused.items():
            [result] = allowed.ingest_url(site.base + path, SHARED_OWNER)
            assert (result.source, result.status) == (site.base + path, "failed")
            assert reason in result.reason, result.describe()
    assert inner.requests == [] and site.sent_big < 30 * 1024 * 1024  # of the 50 MB
    assert allowed.documents(SHARED_OWNER) == []


def test_without_the_setting_the_local_server_is_refused(site, assistant):
    [result] = assistant.ingest_url(site.base + "/docs/orchard.html", SHARED_OWNER)
    assert result.status == "failed" and "127.0.0.1 is a loopback address" in result.reason
    assert "RAG_ALLOW_PRIVATE_URLS" in result.reason
    assert site.requests == [] and assistant.documents(SHARED_OWNER) == []


def test_a_visitors_url_counts_against_the_workspace_quota(site, tmp_path, embedder, fake_backend):
    small = build(tmp_path, embedder, fake_backend, allow_private_urls="127.0.0.1", max_workspace_documents=3)
    try:
        results = small.upload_url(site.base + "/sitemap.xml", "visitor-1")
    finally:
        small.close()
    assert [r.status for r in results[:3]] == ["added"] * 3
    assert all(r.status == "failed" and "RAG_MAX_WORKSPACE_DOCUMENTS" in r.reason for r in results[3:])


def test_refresh_replaces_a_changed_page_and_leaves_the_rest(site, allowed, tmp_path):
    page, pdf = site.base + "/docs/orchard.html", site.base + "/docs/manual"
    allowed.upload_url(page, "visitor-1")
    allowed.upload_url(pdf, "visitor-1")
    allowed.upload_url(pdf, "visitor-2")
    note = tmp_path / "note.txt"
    note.write_text("A note that came from a file.")
    allowed.upload([SourceFile("note.txt", note)], "visitor-1")
    site.pages["/docs/orchard.html"] = ("text/html", html_page("Orchard care", "Pears are pruned in summer."))
    ids = {d.source: d.doc_id for d in allowed.documents("visitor-1", include_shared=False)}
    theirs = [d.doc_id for d in allowed.documents("visitor-2", include_shared=False)]
    results = allowed.refresh("visitor-1", [*ids.values(), *theirs])
    assert sorted((r.source, r.status) for r in results) == [(pdf, "unchanged"), (page, "replaced")]
    hit = allowed.retrieve("When are pears pruned?", "visitor-1", k=1).hits[0]
    assert hit.chunk.source == page and "summer" in hit.chunk.text


def test_a_name_whose_dns_server_never_answers_fails_at_the_fetch_deadline(site, allowed, monkeypatch):
    """The system resolver has no deadline of its own (glibc: ~5 s a try, several tries and
    servers), and it held the visitor's ingest slot past RAG_FETCH_TIMEOUT_S. A DNS server that
    never answers is stood in for by a getaddrinfo that blocks on an event (the one fake here)."""
    real, answered = socket.getaddrinfo, threading.Event()

    def hung_for_one_name(host, *args, **kwargs):
        if host == "hung.example":
            answered.wait(120)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hung_for_one_name)
    url, results = "http://hung.example/page.html", []
    fetch = threading.Thread(target=lambda: results.extend(allowed.upload_url(url, "anon:dns")), daemon=True)
    started = time.monotonic()
    try:
        fetch.start()
        fetch.join(15)
        seconds = time.monotonic() - started
        assert not fetch.is_alive(), "the URL's ingest was still waiting for the resolver after 15 s"
    finally:
        answered.set()
    [result] = results
    assert (result.source, result.status) == (url, "failed") and seconds < 2 + 3, (seconds, result)
    assert "resolving hung.example took over 2 s (RAG_FETCH_TIMEOUT_S)" in result.reason, result.reason
    page = site.base + "/docs/orchard.html"  # the next URL is fetched as usual
    assert [r.status for r in allowed.upload_url(page, "anon:dns")] == ["added"]

"""`rag sync` on a real folder and a real local web site (127.0.0.1), into Milvus Lite with the
packaged MiniLM: exactly the changes are made, and reported."""

from __future__ import annotations

import hashlib
import time

import pytest

from rag.assistant import Assistant
from rag.generation.llm import LLM
from rag.types import SHARED_OWNER
from tests.conftest import make_settings
from tests.ingest.web_site import Site, html_page, serve, sitemap


@pytest.fixture
def syncing(tmp_path, embedder, fake_backend):
    settings = make_settings(tmp_path / "data", allow_private_urls="127.0.0.1")
    built = Assistant(settings, embedder, LLM(settings, fake_backend))
    yield built
    built.close()


def changes(report) -> set[str]:
    return {action.describe() for action in report.changes}


def test_a_folder_sync_does_exactly_what_changed(syncing, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "pump.txt").write_text("The pump is primed by opening the red valve twice.")
    (folder / "valve.md").write_text("# Valve\n\nThe valve opens clockwise.")
    (folder / "fan.txt").write_text("The fan runs at three speeds.")
    first = syncing.sync(str(folder), SHARED_OWNER)
    assert changes(first) == {
        "added fan.txt (1 chunks)",
        "added pump.txt (1 chunks)",
        "added valve.md (1 chunks)",
    }

    (folder / "pump.txt").write_text("The pump is primed by opening the blue valve three times.")
    (folder / "valve.md").unlink()
    (folder / "hose.txt").write_text("The hose is rinsed after every use.")
    second = syncing.sync(str(folder), SHARED_OWNER)
    assert changes(second) == {"updated pump.txt (1 chunks)", "removed valve.md", "added hose.txt (1 chunks)"}
    assert [a.describe() for a in second.actions if a.action == "unchanged"] == ["unchanged fan.txt"]
    assert sorted(d.source for d in syncing.documents(SHARED_OWNER)) == ["fan.txt", "hose.txt", "pump.txt"]
    hit = syncing.retrieve("How is the pump primed?", SHARED_OWNER, k=1).hits[0]
    assert "blue valve" in hit.chunk.text

    assert syncing.sync(str(folder), SHARED_OWNER).changes == []


def test_a_sitemap_sync_uses_etags_and_removes_dropped_pages(syncing):
    pages = {
        f"/p{i}.html": ("text/html", html_page(f"Page {i}", f"Page {i} is about topic {i}."))
        for i in (1, 2, 3)
    }
    with serve(Site(pages=pages)) as site:
        url = lambda i: f"{site.base}/p{i}.html"  # noqa: E731
        site.pages["/sitemap.xml"] = ("application/xml", sitemap([url(1), url(2), url(3)]))
        first = syncing.sync(site.base + "/sitemap.xml", SHARED_OWNER)
        assert {a.action for a in first.actions} == {"added"} and len(first.actions) == 3

        site.pages["/p1.html"] = ("text/html", html_page("Page 1", "Page 1 now covers something else."))
        del site.pages["/p2.html"]
        site.pages["/p4.html"] = ("text/html", html_page("Page 4", "Page 4 is new."))
        site.pages["/sitemap.xml"] = ("application/xml", sitemap([url(1), url(3), url(4)]))
        second = syncing.sync(site.base + "/sitemap.xml", SHARED_OWNER)
    assert changes(second) == {
        f"updated {url(1)} (1 chunks)",
        f"removed {url(2)}",
        f"added {url(4)} (1 chunks)",
    }
    assert [a.describe() for a in second.actions if a.action == "unchanged"] == [
        f"unchanged {url(3)} (304 Not Modified)"
    ]
    assert sorted(d.source for d in syncing.documents(SHARED_OWNER)) == [url(1), url(3), url(4)]


def test_a_page_that_is_gone_is_removed_and_one_that_fails_is_kept(syncing):
    site = Site(
        pages={
            "/a.html": ("text/html", html_page("A", "Alpha.")),
            "/b.html": ("text/html", html_page("B", "Beta.")),
        }
    )
    with serve(site):
        a, b = site.base + "/a.html", site.base + "/b.html"
        syncing.sync(a, SHARED_OWNER)
        syncing.sync(b, SHARED_OWNER)
        del site.pages["/a.html"]  # 404: gone
        site.redirects["/b.html"] = "http://169.254.169.254/"  # refused: a failure, not a removal
        assert changes(syncing.sync(a, SHARED_OWNER)) == {f"removed {a}"}
        failed = syncing.sync(b, SHARED_OWNER)
    assert [x.action for x in failed.actions] == ["failed"] and "metadata" in failed.actions[0].detail
    assert [d.source for d in syncing.documents(SHARED_OWNER)] == [b]


def test_the_app_resyncs_registered_sources_in_the_background(tmp_path, embedder, fake_backend):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "pump.txt").write_text("The pump is primed by opening the red valve twice.")
    settings = make_settings(tmp_path / "data", sync_interval_s=0.2)
    app = Assistant(settings, embedder, LLM(settings, fake_backend))
    try:
        assert changes(app.sync(str(folder), SHARED_OWNER)) == {"added pump.txt (1 chunks)"}
        new = b"The pump is primed by opening the blue valve three times."
        (folder / "pump.txt").write_bytes(new)
        (folder / "hose.txt").write_text("The hose is rinsed after every use.")
        app.start()
        wanted = {("hose.txt", hashlib.sha256(b"The hose is rinsed after every use.").hexdigest()),
                  ("pump.txt", hashlib.sha256(new).hexdigest())}  # fmt: skip
        deadline = time.monotonic() + 120
        while {(d.source, d.content_hash) for d in app.documents(SHARED_OWNER)} != wanted:
            assert time.monotonic() < deadline, "the background sync never caught up with the folder"
            time.sleep(0.1)
        hit = app.retrieve("How is the pump primed?", SHARED_OWNER, k=1).hits[0]
        assert "blue valve" in hit.chunk.text
    finally:
        app.close()


def test_a_workspace_deleted_during_a_sync_gets_none_of_its_files(syncing, tmp_path, monkeypatch):
    """The sync reads the workspace's deletion mark once, as an upload does: deleted while the first
    file is parsed, neither that file nor the next one goes in (before, each file read the mark as
    it started, so the second was added to the deleted workspace)."""
    import threading

    from rag.ingest import pipeline

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a_pump.txt").write_text("The pump is primed by opening the red valve twice.")
    (folder / "b_fan.txt").write_text("The fan runs at three speeds.")
    reached, go = threading.Event(), threading.Event()
    load = pipeline.load_document

    def held_once(*args, **kwargs):
        if not reached.is_set():
            reached.set()
            assert go.wait(120), "the test never let the sync go on"
        return load(*args, **kwargs)

    monkeypatch.setattr(pipeline, "load_document", held_once)
    reports = []
    thread = threading.Thread(target=lambda: reports.append(syncing.sync(str(folder), "ws-sync")))
    thread.start()
    try:
        assert reached.wait(120), "the sync never parsed its first file"
        syncing.delete_workspace("ws-sync")
    finally:
        go.set()
        thread.join(120)
    assert not thread.is_alive() and len(reports) == 1
    assert sorted((a.action, a.name) for a in reports[0].actions) == [
        ("failed", "a_pump.txt"),
        ("failed", "b_fan.txt"),
    ], reports[0].actions
    assert all("deleted with its workspace" in a.detail for a in reports[0].actions)
    assert syncing.documents("ws-sync", include_shared=False) == []

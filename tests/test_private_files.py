"""The data dir and the app's files in it are private (0700 / 0600), and the browser-state secret is
one value for the whole deployment: the setting, or a file made once even by replicas starting
together, refused when empty, short or not text (Gradio would otherwise pick a random one per start
and every browser's workspace would be lost)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rag.private_files import SECRET_FILE, browser_secret
from rag.workspace.conversations import ConversationStore, Turn

ROOT = Path(__file__).resolve().parent.parent


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_setting_is_the_secret_on_every_replica_whatever_their_data_dirs(tmp_path):
    shared = "s3cr3t-" + "x" * 40
    assert browser_secret(shared, tmp_path / "replica-a") == browser_secret(shared, tmp_path / "replica-b")
    assert not (tmp_path / "replica-a" / SECRET_FILE).exists()


def test_without_the_setting_the_file_is_made_once_private_and_kept(tmp_path):
    data = tmp_path / "data"
    first = browser_secret("", data)
    assert len(first) == 64 and browser_secret("", data) == first
    assert mode(data) == 0o700 and mode(data / SECRET_FILE) == 0o600
    (data / SECRET_FILE).write_text("0123456789abcdef0123456789abcdef\n")  # one made by an earlier version
    assert browser_secret("", data) == "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"", "is empty"), (b"  \n", "is empty"), (b"short", "too short"), (b"\xff\xfe" * 20, "not UTF-8")],
)
def test_an_empty_short_or_non_text_secret_file_is_refused_naming_the_setting(tmp_path, content, problem):
    (tmp_path / SECRET_FILE).write_bytes(content)
    with pytest.raises(ValueError, match=problem) as refused:
        browser_secret("", tmp_path)
    assert "RAG_BROWSER_SECRET" in str(refused.value) and SECRET_FILE in str(refused.value)


@pytest.mark.parametrize("value", [" ", "short", "has spaces " * 5, "é" * 40])
def test_a_bad_setting_is_refused(tmp_path, value):
    with pytest.raises(ValueError, match="RAG_BROWSER_SECRET"):
        browser_secret(value, tmp_path)


RACER = """
import sys, time
from rag.private_files import browser_secret
start = float(sys.argv[2])
while time.time() < start:
    pass
print(browser_secret("", sys.argv[1]))
"""


def test_replicas_starting_together_on_a_fresh_shared_volume_agree_on_one_secret(tmp_path):
    import time

    shared = tmp_path / "volume" / "rag"
    start = str(time.time() + 3.0)  # every process is ready by then, then all go at once
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(shared), start], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    secrets = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert all(racer.returncode == 0 for racer in racers)
    assert len(secrets) == 1 and len(secrets.pop()) == 64
    assert [p.name for p in shared.iterdir()] == [SECRET_FILE]  # no temporary file left behind


def test_gradio_sends_the_secret_to_every_page_so_it_protects_nothing():
    """Why the README says the workspace key itself is the credential: the browser encrypts, so
    the secret is in the page config every visitor gets."""
    import gradio as gr

    with gr.Blocks() as demo:
        gr.BrowserState("", storage_key="k", secret="the-deployment-secret")
    assert "the-deployment-secret" in json.dumps(demo.get_config_file(), default=str)


def test_the_data_dir_and_the_conversations_are_private_whatever_the_umask(tmp_path):
    import os
    import sqlite3

    old = os.umask(0o022)
    try:
        store = ConversationStore(tmp_path / "data" / "conversations.db")
        held = sqlite3.connect(store.path)  # an open connection keeps the -wal and -shm files
        held.execute("SELECT 1 FROM conversations").fetchall()
        store.append("anon:a", None, Turn("q", "a", [], ""))
        wal, shm = (store.path.with_name(f"conversations.db-{end}") for end in ("wal", "shm"))
        assert (mode(wal), mode(shm)) == (0o600, 0o600)
        held.close()
    finally:
        os.umask(old)
    assert mode(tmp_path / "data") == 0o700 and mode(store.path) == 0o600


def test_a_conversations_file_left_readable_by_an_earlier_version_is_made_private(tmp_path):
    path = tmp_path / "conversations.db"
    ConversationStore(path)
    path.chmod(0o644)
    ConversationStore(path)
    assert mode(path) == 0o600


def test_the_app_creates_its_data_dir_private(assistant, settings):
    assert mode(Path(settings.store.data_dir)) == 0o700
    assert mode(Path(settings.store.data_dir) / "conversations.db") == 0o600

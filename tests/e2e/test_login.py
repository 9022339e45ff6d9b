"""With RAG_AUTH, workspaces belong to users: they survive new sessions and stay private."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ARTIFACTS, start_app, stop_app

pytestmark = pytest.mark.browser


def test_login_workspace_survives_new_sessions_and_stays_private(tmp_path):
    from gradio_client import Client, handle_file

    ARTIFACTS.mkdir(exist_ok=True)
    process, url = start_app(  # logins need no model: the fake backend keeps the engine's load off
        tmp_path / "data", ARTIFACTS / "app-login.log", RAG_AUTH="ann:pw-a,bob:pw-b", RAG_LLM_BACKEND="fake"
    )
    try:
        note = tmp_path / "ann-notes.md"
        note.write_text("# Ann\n\nAnn keeps the spare key under the blue flowerpot.")
        ann = Client(url, auth=("ann", "pw-a"), verbose=False)
        report, *_ = ann.predict([handle_file(str(note))], api_name="/ingest")
        assert "ann-notes.md: added (1 chunks)" in report

        ann_again = Client(url, auth=("ann", "pw-a"), verbose=False)  # a new session, same user
        assert [d["name"] for d in ann_again.predict(api_name="/list_documents")[0]] == ["ann-notes.md"]

        bob = Client(url, auth=("bob", "pw-b"), verbose=False)
        assert bob.predict(api_name="/list_documents")[0] == []

        with pytest.raises(Exception):  # noqa: B017 - gradio_client raises its own error types
            Client(url, auth=("ann", "wrong"), verbose=False)
    finally:
        stop_app(process)

"""The Gradio Blocks layout and its event wiring; the work is done by `WebApp`.

(Importing any `rag` module first runs `rag/__init__.py`, which turns Gradio analytics off before
gradio is imported here.)
"""

from __future__ import annotations

import atexit
import logging
import signal
import sys

import gradio as gr

from rag.assistant import Assistant
from rag.settings import Settings
from rag.webapp import WebApp

log = logging.getLogger(__name__)
CSS = """
.rag-sources { max-height: 70vh; overflow-y: auto; }
.rag-source { border: 1px solid var(--border-color-primary); border-radius: 6px;
  padding: 6px 8px; margin: 6px 0; }
.rag-text { white-space: pre-wrap; font-size: 0.85em; margin: 4px 0 0; max-height: 14em; overflow-y: auto; }
.rag-help { font-size: 0.8em; opacity: 0.8; }
"""
INTRO = (
    "# RAG chat\nDrop PDF, HTML, Markdown or text files on the right, then ask. Answers cite the "
    "retrieved chunks as [1], [2]… — the numbers of the **Sources** panel. Your uploads are private "
    "to this browser session; the shared library is visible to everyone."
)


def build_ui(app: WebApp) -> gr.Blocks:
    settings = app.settings
    with gr.Blocks(title="RAG chat") as demo:
        gr.Markdown(INTRO)
        status = gr.Markdown(app.engine_status(), elem_id="engine-status")
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(elem_id="chatbot", height=520, label="Chat")
                question = gr.Textbox(
                    elem_id="question",
                    placeholder="Ask about your documents… (Enter sends)",
                    show_label=False,
                    lines=1,
                    max_lines=6,
                )
                with gr.Row():
                    send = gr.Button("Send", variant="primary", elem_id="send")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop")
                    clear = gr.Button("Clear chat", elem_id="clear")
                stats = gr.Markdown("", elem_id="stats")
            with gr.Column(scale=2):
                with gr.Tab("Sources"):
                    sources = gr.HTML("", elem_id="sources")
                with gr.Tab("Documents", elem_id="documents-tab"):
                    upload = gr.File(
                        label=f"Drop files: PDF, HTML, Markdown, text (≤ {settings.max_upload_mb} MB each)",
                        file_count="multiple",
                        type="filepath",
                        elem_id="upload",
                    )
                    upload_status = gr.Textbox(
                        label="Upload results", lines=6, interactive=False, elem_id="upload-status"
                    )
                    sample = gr.Button(
                        "Load sample documents (Milvus docs)", visible=False, elem_id="load-sample"
                    )
                    docs = gr.CheckboxGroup(label="Documents you can search", choices=[], elem_id="doc-list")
                    only_selected = gr.Checkbox(
                        label="Search only in the selected documents", elem_id="only-selected"
                    )
                    delete = gr.Button("Delete selected", elem_id="delete")

        ingest_limits = {"concurrency_limit": settings.ingest_concurrency, "concurrency_id": "ingest"}
        upload.upload(
            app.ingest, [upload], [upload_status, docs, sample], api_name="ingest", **ingest_limits
        ).then(lambda: None, None, upload, api_visibility="private")
        sample.click(
            app.load_sample, None, [upload_status, docs, sample], api_name="load_sample", **ingest_limits
        )
        delete.click(app.delete, [docs], [upload_status, docs, sample], api_name="delete_selected")

        chat_inputs = [question, chatbot, docs, only_selected]
        chat_outputs = [chatbot, sources, stats, question]
        chat_limits = {"concurrency_limit": settings.chat_concurrency, "concurrency_id": "chat"}
        submit = question.submit(app.chat, chat_inputs, chat_outputs, api_name="chat", **chat_limits)
        click = send.click(app.chat, chat_inputs, chat_outputs, api_visibility="private", **chat_limits)
        stop.click(None, None, None, cancels=[submit, click])
        clear.click(lambda: ([], "", ""), None, [chatbot, sources, stats], api_visibility="private")

        gr.Button(visible=False).click(
            app.list_documents, None, [gr.JSON(visible=False), docs, sample], api_name="list_documents"
        )
        delete_name = gr.Textbox(visible=False)
        gr.Button(visible=False).click(
            app.delete_by_name, [delete_name], gr.Textbox(visible=False), api_name="delete"
        )

        demo.load(app.documents, None, [docs, sample], api_visibility="private")
        timer = gr.Timer(2.0)
        timer.tick(app.engine_status, None, status, api_visibility="private", queue=False)
    return demo


def parse_auth(spec: str) -> list[tuple[str, str]] | None:
    """`user:pass,user2:pass2` → Gradio's auth list; empty → no login."""
    if not spec.strip():
        return None
    pairs = []
    for item in spec.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user or not password:
            raise ValueError("RAG_AUTH must look like user:password,user2:password2")
        pairs.append((user, password))
    return pairs


def create_app(settings: Settings) -> tuple[gr.Blocks, WebApp]:
    """Build the assistant, start the engine loading in the background, build the UI."""
    assistant = Assistant(settings)
    assistant.llm.start_in_background()
    assistant.janitor.start()
    app = WebApp(assistant)
    demo = build_ui(app)
    demo.queue(max_size=settings.max_queue, default_concurrency_limit=settings.chat_concurrency)
    return demo, app


def launch(settings: Settings) -> None:
    demo, app = create_app(settings)
    log.info("serving on http://%s:%d", settings.host, settings.port)
    # SIGTERM (docker stop, Spaces, test fixtures) must still shut the engine process down
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    atexit.register(app.assistant.llm.shutdown)
    demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=parse_auth(settings.auth),
        max_file_size=f"{settings.max_upload_mb}mb",
        show_error=True,
        css=CSS,
        footer_links=["api"],
    )

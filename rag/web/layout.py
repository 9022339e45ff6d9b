"""The Gradio Blocks layout and its event wiring; the work is done by `WebApp`.

(Importing any `rag` module first runs `rag/__init__.py`, which turns Gradio analytics off before
gradio is imported here.)
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import fastapi
import gradio as gr

from rag.assistant import Assistant
from rag.lifecycle import exit_after_shutdown, exit_on_sigterm, exit_within
from rag.private_files import browser_secret
from rag.settings import Settings
from rag.web.guard import check_login_methods, guard
from rag.web.handlers import WebApp
from rag.web.viewer_panel import VIEWER_CSS, VIEWER_JS, ViewerPanel
from rag.web.views import ConversationView, DocumentsView, PageView, UploadView, outputs
from rag.web.words import ui_words

log = logging.getLogger(__name__)
# after SIGTERM uvicorn gives open requests up to 5 s; then the engine and the store get this long
# to shut down (the engine ~1 s, the store less) before the process exits anyway: ~11 s at worst
SHUTDOWN_S = 6.0
CSS = """
.rag-sources { max-height: 60vh; overflow-y: auto; }
.rag-source { border: 1px solid var(--border-color-primary); border-radius: 6px;
  padding: 6px 8px; margin: 6px 0; }
.rag-text { white-space: pre-wrap; font-size: 0.85em; margin: 4px 0 0; max-height: 14em; overflow-y: auto; }
.rag-help, .rag-query { font-size: 0.8em; opacity: 0.8; }
.rag-mark { padding: 0 1px; border-radius: 2px; }
.rag-by-question { background: #fff3a8; }
.rag-by-answer { background: #c9f2c9; }
.rag-by-both { background: #b8e6ff; }
.rag-cited { border-left: 4px solid #2f80ed; }
.rag-focus { outline: 3px solid #f2994a; }
.rag-earlier { opacity: 0.6; cursor: help; }
.rag-context summary { cursor: pointer; font-size: 0.8em; opacity: 0.8; }
.rag-context-label { font-size: 0.75em; opacity: 0.7; margin-top: 4px; }
.rag-context-text { white-space: pre-wrap; font-size: 0.8em; margin: 0; opacity: 0.75; }
.rag-context-self { opacity: 1; border-left: 3px solid var(--border-color-primary); padding-left: 4px; }
.rag-answer-sources { display: none; }
.rag-answer-sources.rag-current { display: block; }
.rag-answer-of { font-size: 0.8em; font-weight: bold; margin: 0; }
"""
# A click on a citation [n] in an answer shows that answer's sources in the panel (every answer has
# its group there, `answer_sources`; the latest is shown until then), brings source n into view and
# marks it; "show the latest answer's" goes back. The links point at rag-source-<answer>-n, so [n]
# of an earlier answer never opens the latest answer's source n. No remote resource is loaded.
CITATION_JS = """<script>
document.addEventListener("click", (event) => {
  const wanted = 'a[href*="#rag-source-"], a.rag-show-latest';
  const link = event.target.closest ? event.target.closest(wanted) : null;
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  const groups = [...document.querySelectorAll("#sources .rag-answer-sources")];
  const show = (group) => groups.forEach((g) => g.classList.toggle("rag-current", g === group));
  if (link.classList.contains("rag-show-latest")) {
    show(groups[groups.length - 1]);
    return;
  }
  const id = link.getAttribute("href").split("#")[1];
  const found = document.querySelectorAll('[id="' + CSS.escape(id) + '"]');
  const target = found[found.length - 1];  // the same question and answer twice: the same sources
  if (!target) {  // an answer that was never saved (stopped, or sent by the API) has no sources here
    link.title = "This answer's sources are not in the panel (the answer was not saved).";
    link.classList.add("rag-earlier");
    return;
  }
  const group = target.closest(".rag-answer-sources");
  if (group) show(group);
  document.querySelectorAll(".rag-focus").forEach((e) => e.classList.remove("rag-focus"));
  target.classList.add("rag-focus");
  target.scrollIntoView({block: "center"});
}, true);
</script>"""

UPLOADS_AT_ONCE = 8


def build_ui(app: WebApp, browser_secret: str) -> gr.Blocks:
    settings = app.settings
    words = ui_words(settings.limits.max_upload_mb)
    # uploaded temp files: checked every 30 min, removed once an hour old (ingest has used them)
    with gr.Blocks(title="RAG chat", delete_cache=(1800, 3600)) as demo:
        # the workspace key and the open conversation: kept in this browser, copied into the
        # session's state on load. Gradio sends the secret to every page (the browser encrypts), so
        # it protects nothing; it must only be the same on every replica (rag/private_files.py)
        stored_key = gr.BrowserState("", storage_key="rag-workspace", secret=browser_secret)
        stored_conversation = gr.BrowserState("", storage_key="rag-conversation", secret=browser_secret)
        workspace = gr.State("")
        conversation = gr.State("")
        with gr.Row():
            gr.Markdown(words("intro"))
            if hf_oauth_enabled():
                gr.LoginButton(elem_id="hf-login", scale=0, min_width=200)
        status = gr.Markdown(app.engine_status, elem_id="engine-status")  # computed on each page load
        with gr.Row():
            with gr.Column(scale=1, min_width=200):
                new_chat = gr.Button(words("new_chat"), elem_id="new-chat", size="sm")
                conversations = gr.Radio(label=words("conversations"), choices=[], elem_id="conversations")
                delete_chat = gr.Button(words("delete_chat"), elem_id="delete-chat", size="sm")
                with gr.Accordion(words("workspace"), open=False):
                    new_space = gr.Button(words("new_workspace"), elem_id="new-workspace", size="sm")
                    delete_space = gr.Button(
                        words("delete_workspace"),
                        variant="stop",
                        elem_id="delete-workspace",
                        size="sm",
                    )
                    confirm_delete = gr.Button(
                        words("confirm_delete"),
                        variant="stop",
                        visible=False,
                        elem_id="confirm-delete-workspace",
                        size="sm",
                    )
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(elem_id="chatbot", height=520, label=words("chat"))
                question = gr.Textbox(
                    elem_id="question",
                    placeholder=words("question"),
                    show_label=False,
                    lines=1,
                    max_lines=6,
                )
                with gr.Row():
                    send = gr.Button(words("send"), variant="primary", elem_id="send")
                    stop = gr.Button(words("stop"), variant="stop", elem_id="stop")
                stats = gr.Markdown("", elem_id="stats")
            ViewerPanel(app).build(workspace)  # the source viewer, beside the chat once a source is opened
            with gr.Column(scale=2):
                upload = gr.File(
                    label=words("upload"),
                    file_count="multiple",
                    type="filepath",
                    height=150,
                    elem_id="upload",
                )
                with gr.Row(equal_height=True):
                    url = gr.Textbox(
                        placeholder=words("url"),
                        show_label=False,
                        max_lines=1,
                        scale=4,
                        elem_id="url",
                    )
                    add_url = gr.Button(words("add_url"), size="sm", scale=1, elem_id="add-url")
                follow_links = gr.Checkbox(label=words("follow_links"), elem_id="follow-links")
                stop_upload = gr.Button(words("stop_upload"), size="sm", elem_id="stop-upload")
                upload_status = gr.Textbox(
                    label=words("upload_status"),
                    lines=2,
                    max_lines=8,
                    interactive=False,
                    elem_id="upload-status",
                )
                sample = gr.Button(words("sample"), visible=False, elem_id="load-sample")
                gr.Markdown(words("sources"))
                sources = gr.HTML("", elem_id="sources")
                with gr.Accordion(words("documents"), open=True, elem_id="documents"):
                    docs = gr.CheckboxGroup(label=words("doc_list"), choices=[], elem_id="doc-list")
                    only_selected = gr.Checkbox(label=words("only_selected"), elem_id="only-selected")
                    with gr.Row():
                        refresh = gr.Button(words("refresh"), elem_id="refresh", size="sm")
                        delete = gr.Button(words("delete"), elem_id="delete", size="sm")

        private = {"api_visibility": "private"}
        # the components by their names here, which are the view types' field names (rag/web/views.py)
        shown = {
            name: value for name, value in locals().items() if isinstance(value, gr.components.Component)
        }
        doc_outputs = outputs(DocumentsView, shown)
        upload_outputs = outputs(UploadView, shown)
        identity = [workspace]
        # uploads in progress at once (threads that mostly wait): their CPU steps take turns in the
        # RAG_INGEST_CONCURRENCY slots, fairly between workspaces (rag/ingest/fair.py)
        ingest_limits = {"concurrency_limit": UPLOADS_AT_ONCE, "concurrency_id": "ingest"}
        upload.upload(
            app.ingest, [upload, *identity], upload_outputs, api_name="ingest", **ingest_limits
        ).then(lambda: None, None, upload, **private)
        gr.on(
            [add_url.click, url.submit],
            app.ingest_url,
            [url, follow_links, *identity],
            upload_outputs,
            api_name="ingest_url",
            **ingest_limits,
        )
        sample.click(app.load_sample, identity, upload_outputs, api_name="load_sample", **ingest_limits)
        stop_upload.click(app.stop_ingest, identity, None, api_name="stop_ingest")
        refresh.click(
            app.refresh,
            [docs, *identity],
            upload_outputs,
            api_name="refresh_selected",
            **ingest_limits,
        )
        delete.click(app.delete, [docs, *identity], upload_outputs, api_name="delete_selected")

        chat_inputs = [question, chatbot, docs, only_selected, workspace, conversation]
        chat_outputs = [chatbot, sources, stats, question, conversation]
        chat_limits = {"concurrency_limit": settings.limits.chat_concurrency, "concurrency_id": "chat"}
        remember = (
            app.refresh_conversations,
            [conversation, workspace],
            [stored_conversation, conversations],
        )
        submit = question.submit(app.chat, chat_inputs, chat_outputs, api_name="chat", **chat_limits)
        submit.then(*remember, **private)
        click = send.click(app.chat, chat_inputs, chat_outputs, **private, **chat_limits)
        click.then(*remember, **private)
        stop.click(None, None, None, cancels=[submit, click])

        conversation_outputs = outputs(ConversationView, shown)
        new_chat.click(
            lambda: ConversationView("", "", [], "", "", gr.update(value=None)),
            None,
            conversation_outputs,
            **private,
        )
        conversations.input(
            app.open_conversation, [conversations, workspace], conversation_outputs, **private
        )
        delete_chat.click(app.delete_conversation, [conversation, workspace], conversation_outputs, **private)

        everything = outputs(PageView, shown)
        new_space.click(app.new_workspace, identity, everything, **private)
        delete_space.click(lambda: gr.update(visible=True), None, confirm_delete, **private)
        confirm_delete.click(app.delete_workspace, identity, everything, **private).then(
            lambda: gr.update(visible=False), None, confirm_delete, **private
        )

        gr.Button(visible=False).click(
            app.list_documents, identity, [gr.JSON(visible=False), *doc_outputs], api_name="list_documents"
        )
        delete_name = gr.Textbox(visible=False)
        gr.Button(visible=False).click(
            app.delete_by_name, [delete_name, *identity], gr.Textbox(visible=False), api_name="delete"
        )

        # the list follows the page: `restore` doesn't wait for a library still loading
        demo.load(app.restore, [stored_key, stored_conversation], everything, **private).then(
            app.documents, identity, doc_outputs, **private
        )
        chatbot.like(app.feedback, [chatbot, workspace], None, **private)  # the message names its turn
        timer = gr.Timer(2.0)
        timer.tick(app.engine_status, None, status, queue=False, **private)
    return demo


def hf_oauth_enabled() -> bool:
    """ "Sign in with Hugging Face" exists on a Space whose front matter says `hf_oauth: true` (the
    Space then sets OAUTH_CLIENT_ID). Elsewhere Gradio would mock it with the hub account of the
    machine, which needs the network at start-up, so the button is left out."""
    return bool(os.environ.get("SPACE_ID") and os.environ.get("OAUTH_CLIENT_ID"))


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
    """Build the assistant and the UI; `launch` starts the library (embedder, store) and the engine
    loading in the background as the server begins to listen (`start_as_it_listens`)."""
    secret = browser_secret(
        settings.web.browser_secret, settings.store.data_dir
    )  # refused before anything starts
    assistant = Assistant(settings, background=True)  # the page is served while the embedder loads
    app = WebApp(assistant)
    demo = build_ui(app, secret)
    demo.queue(max_size=settings.limits.max_queue, default_concurrency_limit=settings.limits.chat_concurrency)
    return demo, app


def start_as_it_listens(server: fastapi.FastAPI, start: Callable[[], None]) -> None:
    """Call `start` as the server's last start-up step (after Gradio's), just before uvicorn binds
    its port: the loads it begins then run beside serving, not beside building the page.

    Begun when the assistant was built, the library's and the engine's imports took the GIL from
    the UI's construction and the server's start: the page came at 5.0-6.4 s near idle, of which
    Gradio's import is ~4 s (docs/BENCHMARKS.md, "Issue 24's targets measured near idle")."""
    inner = server.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: fastapi.FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            start()
            yield state

    server.router.lifespan_context = lifespan


def launch(settings: Settings) -> None:
    """Serve the UI and `/health` (200 only when the store and the engine both work) with uvicorn."""
    import uvicorn
    from fastapi.responses import JSONResponse

    check_login_methods(settings, hf_oauth_enabled())  # before anything starts
    demo, app = create_app(settings)
    server = fastapi.FastAPI()

    @server.get("/health")
    def health() -> JSONResponse:  # a plain def: FastAPI runs it in a worker thread, off the loop
        report = app.assistant.health()
        return JSONResponse(report, status_code=200 if report["ok"] else 503)

    server = gr.mount_gradio_app(
        server,
        demo,
        path="",
        auth=parse_auth(settings.web.auth),
        max_file_size=f"{settings.limits.max_upload_mb}mb",
        show_error=False,  # gr.Error messages still show; other exceptions only in the log
        css=CSS + VIEWER_CSS,
        head=CITATION_JS + VIEWER_JS,
        footer_links=["api"],
        i18n=ui_words(settings.limits.max_upload_mb),  # the same words build_ui used, in the page config
    )
    guard(server, settings, hf_oauth_enabled())  # origins, body sizes, uploads (rag/web/guard.py)
    start_as_it_listens(server, app.assistant.start)
    log.info("serving on http://%s:%d", settings.web.host, settings.web.port)
    exit_on_sigterm()
    try:
        # uvicorn handles SIGTERM and SIGINT (docker stop, Spaces, Ctrl-C): it stops serving, then
        # returns here, and the engine and the store are shut down before the process exits
        uvicorn.run(
            server,
            host=settings.web.host,
            port=settings.web.port,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
    finally:
        exit_within(SHUTDOWN_S)  # a model still loading must not keep the process (and its engine) alive
        app.assistant.close()
        log.info("stopped")
        exit_after_shutdown()

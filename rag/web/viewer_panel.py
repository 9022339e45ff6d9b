"""The viewer panel beside the chat: a cited source's original page or section (rag/viewer/).

A click on a citation [n] (of any answer: the panel already shows that answer's group) or on a
source's "open the original" link puts what the source element says (its document, page and
section, its supporting sentences and its text) into a hidden textbox and clicks a hidden button,
so the request is an ordinary Gradio event of this session: the workspace comes from the session's
state, as for every other event, never from the request, and the viewer refuses a document the
workspace can't read (`Assistant.view_source`). There is no URL that serves a page: the image
travels inside the event's answer as a `data:` URI. The browser names the passages only to say
what to mark; a made-up one marks nothing.

Everything from a document is HTML-escaped; the page image's boxes are positioned in percentages
of the image, so zoom (a wider rendering, bounded by the viewer) keeps them in place.
"""

from __future__ import annotations

import base64
import html
import json
import threading
from dataclasses import asdict, replace

import gradio as gr

from rag.viewer.render_worker import ViewerError
from rag.viewer.views import NotKept, PageView, SectionView, SourceView, ViewRequest
from rag.web.client_address import client_address
from rag.web.handlers import Profile, WebApp

MAX_REQUEST_CHARS = 64_000  # at most 6 sentences and a chunk, of views.MAX_PASSAGE_CHARS each
ZOOMS = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
# pages one workspace may have drawing at once: the 4 viewer slots and 2 render workers serve every
# visitor, and a hostile page holds a worker up to 45 s (a scan's OCR 2-10 s); the panel shows one page
VIEWS_PER_WORKSPACE = 1
# views one client (its address: rag/web/client_address.py) may have in progress, all its
# workspaces together: each holds one of the 4 viewer slots, so one client's many keys can't take
# them all. Two, not one: visitors behind one NAT share an address, and a second view waits for
# the render workers' turn (one page drawing per client) rather than being refused
VIEWS_PER_CLIENT = 2
BUSY = "a page of this workspace is still being drawn: try again when it is shown"
CLIENT_BUSY = (
    f"{VIEWS_PER_CLIENT} pages asked from your address are still being drawn: try again when one is shown"
)

VIEWER_CSS = """
.rag-hidden { display: none !important; }
#viewer { position: sticky; top: 8px; align-self: flex-start; }
#viewer .rag-viewer-head { font-size: 0.85em; margin: 0 0 4px; }
#viewer .rag-viewer-note { font-size: 0.8em; opacity: 0.8; margin: 0 0 4px; }
#viewer .rag-page-scroll { max-height: 75vh; overflow: auto; border: 1px solid var(--border-color-primary); }
#viewer .rag-page { position: relative; }
#viewer .rag-page img { display: block; width: 100%; height: auto; }
#viewer .rag-box { position: absolute; border: 2px solid #e8590c; background: rgba(255, 200, 0, 0.25);
  box-sizing: border-box; pointer-events: none; }
#viewer .rag-section-text { white-space: pre-wrap; font-size: 0.9em; max-height: 75vh; overflow: auto; }
#viewer .rag-passage { background: #ffe08a; }
.rag-source .rag-view { font-size: 0.8em; margin-left: 6px; }
"""

# A click on a citation (after CITATION_JS has shown its answer's group and marked the source) or on
# a source's "open the original" asks the server for the viewer. No remote resource is loaded.
VIEWER_JS = """<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest ? event.target.closest('a[href*="#rag-source-"], a.rag-view') : null;
  if (!link) return;
  let source = link.closest(".rag-source");
  if (!link.classList.contains("rag-view")) {
    const id = CSS.escape(link.getAttribute("href").split("#")[1]);
    const found = document.querySelectorAll('[id="' + id + '"]');
    source = found[found.length - 1];
  }
  if (!source || !source.dataset.doc) return;
  event.preventDefault();
  const text = source.querySelector(".rag-text");
  const marks = [...source.querySelectorAll(".rag-text mark.rag-by-answer, .rag-text mark.rag-by-both")];
  const request = {doc: source.dataset.doc, page: Number(source.dataset.page || 0),
    section: source.dataset.section || "", marks: marks.map((m) => m.textContent),
    chunk: text ? text.textContent : ""};
  const box = document.querySelector("#rag-view-request textarea");
  const open = document.querySelector("#rag-view-open");
  if (!box || !open) return;
  box.value = JSON.stringify(request);
  box.dispatchEvent(new Event("input", {bubbles: true}));
  setTimeout(() => open.click(), 0);
  // the panel opening narrows the columns beside it: bring the clicked source back into view once
  // the page is shown (the panel itself is sticky, so it stays in view)
  const before = document.querySelector("#viewer-page .rag-viewer");
  let tries = 0;
  const wait = setInterval(() => {
    const now = document.querySelector("#viewer-page .rag-viewer");
    if ((now && now !== before) || ++tries > 600) {
      clearInterval(wait);
      if (source.isConnected) source.scrollIntoView({block: "center"});
    }
  }, 100);
}, true);
</script>"""


class ViewerPanel:
    """The panel's components and events; the work is `Assistant.view_source`'s."""

    def __init__(self, app: WebApp) -> None:
        self.app = app
        self._drawing: dict[tuple[str, str], int] = {}  # ("owner"|"client", id) → views in progress
        self._lock = threading.Lock()

    def build(self, workspace: gr.State) -> None:
        """The panel's column (hidden until a source is opened) and its events; call inside the row
        that holds the chat."""
        with gr.Column(scale=3, visible=False, elem_id="viewer") as column:
            with gr.Row():
                previous = gr.Button("◀ Previous page", size="sm", elem_id="viewer-previous")
                following = gr.Button("Next page ▶", size="sm", elem_id="viewer-next")
                zoom_out = gr.Button("−", size="sm", elem_id="viewer-zoom-out", min_width=40)
                zoom_in = gr.Button("+", size="sm", elem_id="viewer-zoom-in", min_width=40)
                close = gr.Button("Close", size="sm", elem_id="viewer-close")
            shown = gr.HTML("", elem_id="viewer-page")
        current = gr.State({})
        request_box = gr.Textbox(elem_id="rag-view-request", elem_classes="rag-hidden", show_label=False)
        open_button = gr.Button("open", elem_id="rag-view-open", elem_classes="rag-hidden")
        private = {"api_visibility": "private", "concurrency_limit": 4, "concurrency_id": "viewer"}
        outputs = [column, shown, current]
        open_button.click(self.open, [request_box, workspace], outputs, **private)
        for button, step, zoom in ((previous, -1, 0), (following, 1, 0), (zoom_out, 0, -1), (zoom_in, 0, 1)):
            button.click(self._mover(step, zoom), [current, workspace], outputs, **private)
        close.click(lambda: (gr.Column(visible=False), "", {}), None, outputs, api_visibility="private")

    def open(self, raw: str, workspace: str, request: gr.Request, profile: Profile) -> tuple:
        """A source clicked in the browser: its view, or what stopped it."""
        try:
            wanted = parse_request(raw)
        except ValueError as exc:
            return gr.Column(visible=True), notice_html(str(exc)), {}
        return self._show(wanted, workspace, request, profile)

    def _mover(self, step: int, zoom: int):
        def move(current: dict, workspace: str, request: gr.Request, profile: Profile) -> tuple:
            """The page before or after, or the same page zoomed (a PDF's; a section stays)."""
            if not current.get("doc_id"):
                return gr.Column(), gr.update(), current
            fields = {k: v for k, v in current.items() if k != "pages"}
            wanted = ViewRequest(**fields | {"marks": tuple(fields.get("marks", ()))})
            pages = int(current.get("pages", 0))
            if not pages:
                return gr.Column(), gr.update(), current
            wanted = replace(
                wanted, page=min(max(wanted.page + step, 1), pages), zoom=next_zoom(wanted.zoom, zoom)
            )
            return self._show(wanted, workspace, request, profile)

        return move

    def _show(self, wanted: ViewRequest, workspace: str, request: gr.Request, profile: Profile) -> tuple:
        owner, client = self.app.owner(workspace, request, profile), client_address(request)
        counted = [("owner", owner)] + ([("client", client)] if client else [])
        with self._lock:
            if self._drawing.get(counted[0], 0) >= VIEWS_PER_WORKSPACE:
                return gr.Column(visible=True), notice_html(BUSY), {}
            if client and self._drawing.get(counted[1], 0) >= VIEWS_PER_CLIENT:
                return gr.Column(visible=True), notice_html(CLIENT_BUSY), {}
            for key in counted:
                self._drawing[key] = self._drawing.get(key, 0) + 1
        try:
            view = self.app.assistant.view_source(owner, wanted, client)
        except ViewerError as exc:
            return gr.Column(visible=True), notice_html(str(exc)), {}
        finally:
            with self._lock:
                for key in counted:
                    self._drawing[key] -= 1
                    if not self._drawing[key]:
                        del self._drawing[key]
        state = asdict(wanted) | {"marks": list(wanted.marks)}
        if isinstance(view, PageView):
            state |= {"page": view.number, "pages": view.pages}
        return gr.Column(visible=True), view_html(view, wanted.zoom), state


def parse_request(raw: str) -> ViewRequest:
    """The browser's request (`VIEWER_JS`), checked: ValueError says what is wrong."""
    if len(raw) > MAX_REQUEST_CHARS:
        raise ValueError("the request to show a source is too long")
    try:
        data = json.loads(raw)
        marks = tuple(str(m) for m in data.get("marks", []))
        page, section, chunk = (
            int(data.get("page", 0)),
            str(data.get("section", "")),
            str(data.get("chunk", "")),
        )
        return ViewRequest(str(data["doc"]), page, section, marks, chunk).bounded()
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):  # page 1e999: inf
        raise ValueError("the request to show a source is not understood: reload the page") from None


def next_zoom(zoom: float, step: int) -> float:
    """The next zoom level up or down (`ZOOMS`), or `zoom` itself."""
    if step == 0:
        return zoom
    higher = [z for z in ZOOMS if z > zoom + 1e-9]
    lower = [z for z in ZOOMS if z < zoom - 1e-9]
    if step > 0:
        return higher[0] if higher else zoom
    return lower[-1] if lower else zoom


def view_html(view: SourceView, zoom: float = 1.0) -> str:
    if isinstance(view, PageView):
        return page_html(view, zoom)
    if isinstance(view, SectionView):
        return section_html(view)
    return not_kept_html(view)


def page_html(view: PageView, zoom: float) -> str:
    """The page image with its boxes over it, the head saying where the passage was found."""
    found = {
        "text layer": "the passage is boxed",
        "OCR": "the passage is boxed where the scan's text was read (OCR)",
    }.get(view.found_by, "the passage is not on this page" if view.number else "")
    head = f"{html.escape(view.source)} · page {view.number} of {view.pages} · {found}"
    boxes = "".join(
        f'<div class="rag-box" style="left:{b.left * 100:.3f}%;top:{b.top * 100:.3f}%;'
        f'width:{b.width * 100:.3f}%;height:{b.height * 100:.3f}%"></div>'
        for b in view.boxes
    )
    image = base64.b64encode(view.png).decode()
    alt = html.escape(f"page {view.number} of {view.source}")
    return (
        f'<div class="rag-viewer" data-kind="pdf" data-page="{view.number}" data-pages="{view.pages}">'
        f'<p class="rag-viewer-head">{head}</p><div class="rag-page-scroll">'
        f'<div class="rag-page" style="width:{zoom * 100:.0f}%">'
        f'<img src="data:image/png;base64,{image}" alt="{alt}">{boxes}</div></div></div>'
    )


def section_html(view: SectionView) -> str:
    """The section's text, escaped, with each passage in a `<mark>`."""
    where = f" · {html.escape(view.location)}" if view.location else ""
    note = "the passage is marked" if view.spans else "the passage was not found in this section"
    cut = '<p class="rag-viewer-note">(a long section: the part around the passage)</p>' if view.cut else ""
    return (
        f'<div class="rag-viewer" data-kind="section">'
        f'<p class="rag-viewer-head">{html.escape(view.source)}{where} · {note}</p>{cut}'
        f'<pre class="rag-section-text">{marked(view.text, view.spans)}</pre></div>'
    )


def marked(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` HTML-escaped with `<mark class="rag-passage">` around each span (overlaps skipped)."""
    out, cursor = [], 0
    for start, end in sorted(spans):
        if start < cursor:
            continue
        out.append(html.escape(text[cursor:start]))
        out.append(f'<mark class="rag-passage">{html.escape(text[start:end])}</mark>')
        cursor = end
    out.append(html.escape(text[cursor:]))
    return "".join(out)


def not_kept_html(view: NotKept) -> str:
    return (
        f'<div class="rag-viewer" data-kind="not-kept"><p class="rag-viewer-head">'
        f"{html.escape(view.source)}</p><p>{html.escape(view.reason)}</p></div>"
    )


def notice_html(message: str) -> str:
    return f'<div class="rag-viewer" data-kind="notice"><p>{html.escape(message)}</p></div>'

"""One PDF page as a PNG, with the cited passage's boxes, by pdfium (pypdfium2).

Runs inside the render worker (rag/viewer/render_worker.py), never in the app's process: pdfium is
C code that a hostile page can keep busy or make allocate, so the worker runs under a memory rlimit
and the app stops waiting after `RENDER_TIMEOUT_S`. The image is bounded here too: the page is
scaled to the width asked for, but no side passes `MAX_VIEW_SIDE` pixels (a 20,000 x 20,000 pt
page at 1,000 px wide stays 1,000 x 1,000; a 10 x 20,000 pt strip is 3,000 px high, not 2 M).

Boxes are fractions of the page image (left, top, width, height in 0..1), so the browser places them
over the image at any zoom. They come from the text layer: the passage is found in the page's text
(`rag.viewer.passages`) and pdfium merges its characters into one rectangle per line
(`FPDFText_CountRects`); a page without a text layer (a scan) gets its boxes from Tesseract's words
(`rag.viewer.ocr_boxes`). pdfium's page-to-device mapping places them, so a rotated or cropped
page is boxed where it is drawn.
"""

from __future__ import annotations

import ctypes
import io
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from rag.viewer.passages import marked_spans

# 3,000 px a side: an A4 page at 250 dpi; 27 MB of RGB at most (9 M pixels), ~0.5 s to encode
MAX_VIEW_SIDE = 3000
MIN_TEXT_CHARS = 20  # a page with fewer characters in its text layer is read as a scan
_DEVICE = 100  # device pixels per point when mapping boxes (pdfium's mapping rounds to integers)


@dataclass(frozen=True)
class Box:
    """A rectangle over the page image, as fractions of its width and height."""

    left: float
    top: float
    width: float
    height: float


@dataclass
class PageImage:
    number: int  # 1-based
    pages: int  # the document's page count
    png: bytes
    width: int  # pixels
    height: int
    boxes: list[Box] = field(default_factory=list)
    found_by: str = ""  # "text layer", "OCR" or "" (no box: the passage was not found on this page)
    scanned: bool = False

    def as_json(self) -> dict:
        return asdict(self) | {"png": None}


def page_count(pdf: pdfium.PdfDocument) -> int:
    return len(pdf)


def render_page(
    pdf: pdfium.PdfDocument,
    number: int,
    width: int,
    marks: Sequence[str] = (),
    chunk: str = "",
    ocr: OcrBoxes | None = None,
) -> PageImage:
    """Page `number` (1-based, clamped to the document) at `width` pixels (bounded by
    `MAX_VIEW_SIDE`), with a box around each of `marks` found on it, or around `chunk` when none
    is (`rag.viewer.passages.marked_spans`). `ocr` finds boxes on a page without a text layer
    (None: such a page gets none)."""
    number = max(1, min(number, len(pdf)))
    page = pdf[number - 1]
    try:
        points_w, points_h = page.get_size()
        scale = _scale(points_w, points_h, width)
        image = page.render(scale=scale, may_draw_forms=False).to_pil()
        out = io.BytesIO()
        image.save(out, "PNG", compress_level=3)  # level 3: 2x faster than the default 6, ~10% bigger
        rendered = PageImage(number, len(pdf), out.getvalue(), image.width, image.height)
        text_page = page.get_textpage()
        try:
            text = text_page.get_text_range()
            rendered.scanned = len(text.strip()) < MIN_TEXT_CHARS
            if not rendered.scanned:
                rendered.boxes = _text_layer_boxes(page, text_page, text, marks, chunk)
                rendered.found_by = "text layer" if rendered.boxes else ""
        finally:
            text_page.close()
        if rendered.scanned and ocr is not None and (marks or chunk):
            rendered.boxes = ocr(page, number, (points_w, points_h), marks, chunk)
            rendered.found_by = "OCR" if rendered.boxes else ""
        return rendered
    finally:
        page.close()


def _scale(points_w: float, points_h: float, width: int) -> float:
    """Pixels per point for `width` pixels across, no side over `MAX_VIEW_SIDE`."""
    longest = max(points_w, points_h, 1.0)
    wanted = (min(width, MAX_VIEW_SIDE) - 1e-6) / max(points_w, 1.0)  # pdfium rounds sizes up
    return max(min(wanted, (MAX_VIEW_SIDE - 1e-6) / longest), 0.01)


def _text_layer_boxes(
    page: pdfium.PdfPage, text_page: pdfium.PdfTextPage, text: str, marks: Sequence[str], chunk: str
) -> list[Box]:
    """One box per line of each marked passage found in the page's text."""
    boxes = []
    for start, end in marked_spans(text, marks, chunk):
        count = text_page.count_rects(start, end - start)
        rects = [text_page.get_rect(i) for i in range(count)]  # (left, bottom, right, top) in points
        boxes += [box for rect in rects if (box := _device_box(page, rect)) is not None]
    return boxes


def _device_box(page: pdfium.PdfPage, rect: tuple[float, float, float, float]) -> Box | None:
    """A rectangle in page space as fractions of the rendered page (rotation and crop applied)."""
    points_w, points_h = page.get_size()
    size_w, size_h = round(points_w * _DEVICE), round(points_h * _DEVICE)
    left, bottom, right, top = rect
    corners = [_to_device(page, size_w, size_h, x, y) for x, y in ((left, top), (right, bottom))]
    xs, ys = sorted(c[0] for c in corners), sorted(c[1] for c in corners)
    if xs[1] - xs[0] <= 0 or ys[1] - ys[0] <= 0:
        return None
    return Box(xs[0] / size_w, ys[0] / size_h, (xs[1] - xs[0]) / size_w, (ys[1] - ys[0]) / size_h)


def _to_device(page: pdfium.PdfPage, size_w: int, size_h: int, x: float, y: float) -> tuple[int, int]:
    device_x, device_y = ctypes.c_int(), ctypes.c_int()
    pdfium_c.FPDF_PageToDevice(page, 0, 0, size_w, size_h, 0, x, y, device_x, device_y)
    return device_x.value, device_y.value


class OcrBoxes:
    """Boxes on a scanned page from Tesseract's words (`find`: `rag.viewer.ocr_boxes.passage_rects`);
    the page is rendered grey at `dpi` for it (bounded like the view). The last `KEEP` answers are
    kept by (`document`, page, marks, chunk): a zoom or a second look doesn't OCR again."""

    KEEP = 16

    def __init__(self, dpi: int, find: Callable[..., list[tuple[float, float, float, float]]]) -> None:
        self.dpi, self.find = dpi, find
        self.document: object = None  # set by the worker to the open document's key
        self._kept: OrderedDict[tuple, list[Box]] = OrderedDict()

    def __call__(
        self, page: pdfium.PdfPage, number: int, size: tuple[float, float], marks: Sequence[str], chunk: str
    ) -> list[Box]:
        key = (self.document, number, tuple(marks), chunk)
        if key not in self._kept:
            points_w, points_h = size
            scale = _scale(points_w, points_h, round(points_w * self.dpi / 72))
            image = page.render(scale=scale, grayscale=True, may_draw_forms=False).to_pil()
            out = io.BytesIO()
            image.save(out, "PNG", compress_level=1)
            rects = self.find(out.getvalue(), image.width, image.height, marks, chunk)
            self._kept[key] = [Box(*rect) for rect in rects]
            while len(self._kept) > self.KEEP:
                self._kept.popitem(last=False)
        return self._kept[key]

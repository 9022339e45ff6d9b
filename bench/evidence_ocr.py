"""OCR seconds per page and evidence highlighting + answer checks milliseconds per answer.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/evidence_ocr.py [--pages 4] [--answers 20] [--threads N]
        [--skip-ocr]

OCR: the scanned fixture of the tests (a few lines per page) and a dense page (32 full lines of
prose), rendered with DejaVu Serif 12 pt at 150 dpi, with and without speckle noise, read by
Tesseract, with the page image taken from the PDF by pypdf (what rag.ingest.ocr does) and, for
comparison, rendered by poppler's pdftoppm at 150 and 300 dpi (when installed). Accuracy is the
share of the true words read exactly.
Highlighting: 5 retrieved chunks of 512 characters from the sample documents, a question and a
three-sentence answer: sentence split + embedding (`index_hits`), the marks and the checks
(`rag.review.answer_review.AnswerReviewer`, the answer stream's review stage), timed when the hits
arrive and again when the answer is complete (with the Sources panel, `rag.web.sources`).
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from pypdf import PdfReader

from rag.embedding.embedder import load_embedder
from rag.ingest.chunking import chunk_document
from rag.ingest.loaders import load_document
from rag.ingest.ocr import ocr_image, page_images
from rag.ingest.pipeline import collect_files
from rag.review.answer_review import AnswerReviewer
from rag.settings import Settings
from rag.types import Hit
from rag.web.sources import sources_html
from tests.samples import SCANNED_PAGES, make_scanned_pdf

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample"


def accuracy(truth: str, read: str) -> float:
    expected, got = Counter(truth.split()), Counter(read.split())
    return sum(min(n, got[w]) for w, n in expected.items()) / sum(expected.values())


def dense_page() -> list[str]:
    """A full Letter page of prose (32 lines of about 70 characters), like a scanned report."""
    prose = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    prose = "".join(ch for ch in prose if ch.isalnum() or ch in " .,;:()-'")
    return textwrap.wrap(prose, 70)[:32]


def bench_ocr(pages: int) -> None:
    layouts = {
        "fixture": [SCANNED_PAGES[i % len(SCANNED_PAGES)] for i in range(pages)],
        "dense": [dense_page()] * pages,
    }
    for (layout, lines), noise in [(item, noise) for item in layouts.items() for noise in (0, 3000)]:
        truth = " ".join(" ".join(page) for page in lines)
        pdf = make_scanned_pdf(lines, noise=noise)
        reader = PdfReader(io.BytesIO(pdf))
        start = time.perf_counter()
        text = " ".join(ocr_image(png) for n in range(1, pages + 1) for png in page_images(reader, n))
        per_page = (time.perf_counter() - start) / pages
        print(
            f"OCR {layout:7s} noise={noise:4d} pypdf image → tesseract: {per_page:.2f} s/page, "
            f"{accuracy(truth, text):.1%} words"
        )
        if not shutil.which("pdftoppm"):
            continue
        for dpi in (150, 300):
            start = time.perf_counter()
            text = ""
            for n in range(1, pages + 1):
                png = subprocess.run(
                    ["pdftoppm", "-r", str(dpi), "-f", str(n), "-l", str(n), "-png", "-gray", "-"],
                    input=pdf,
                    capture_output=True,
                    check=True,
                ).stdout
                text += " " + ocr_image(png)
            per_page = (time.perf_counter() - start) / pages
            print(
                f"OCR {layout:7s} noise={noise:4d} pdftoppm {dpi} dpi → tesseract: {per_page:.2f} s/page, "
                f"{accuracy(truth, text):.1%} words"
            )


def bench_highlighting(answers: int, threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()
    embedder = load_embedder(Settings.from_env({}, embed_model="packaged"))
    chunks = []
    for file in collect_files([SAMPLE]):
        chunks += chunk_document(load_document(file.name, file.path.read_bytes()), file.name)
    hits = [Hit(rank, 0.5, chunk) for rank, chunk in enumerate(chunks[:5], start=1)]
    question = "What does the sample say about this topic?"
    answer = " ".join(f"{hit.chunk.text.split('.')[0].strip()} [{hit.rank}]." for hit in hits[:3])
    at_hits, at_end = [], []
    for _ in range(answers + 1):
        reviewer = AnswerReviewer(embedder, question, hits)
        start = time.perf_counter()
        reviewer.question_marks()  # when the hits arrive: sentences + question marks
        middle = time.perf_counter()
        review = reviewer.review(answer)  # the answer is done
        sources_html(hits, "", review.marks, review.checks.valid)
        at_hits.append((middle - start) * 1000)
        at_end.append((time.perf_counter() - middle) * 1000)
    at_hits, at_end = at_hits[1:], at_end[1:]  # the first call warms up
    sentences = sum(len(item.spans) for item in reviewer.sentences())
    print(
        f"highlighting + checks ({threads} torch threads): {len(hits)} chunks ({sentences} sentences), "
        f"3-sentence answer, per answer (median/max of {answers}): when the hits arrive "
        f"{statistics.median(at_hits):.0f}/{max(at_hits):.0f} ms, when the answer is complete "
        f"{statistics.median(at_end):.0f}/{max(at_end):.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--answers", type=int, default=20, help="0: OCR only")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--skip-ocr", action="store_true")
    args = parser.parse_args()
    if not args.skip_ocr:
        bench_ocr(args.pages)
    if args.answers:
        bench_highlighting(args.answers, args.threads)


if __name__ == "__main__":
    main()

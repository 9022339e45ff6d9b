"""How long the source viewer takes to draw a cited PDF page, and what an open page costs in memory.

    .venv/bin/python bench/viewer.py [--runs 30] [--width 900]

Two pages, both Letter: a text page (46 lines of 10 pt Helvetica, ~3,400 characters, the passage
boxed from the text layer) and a scanned page (the same lines drawn at 200 dpi into a picture, no
text layer: the box comes from Tesseract's words). Each request goes the way the app sends it: to a
render worker (rag/viewer/render_worker.py), which draws the page, finds the boxes and answers with
the PNG. Scans are timed cold (a passage not asked for before: Tesseract runs) and warm (the same
passage again, as after a zoom or a page turn back: the boxes are kept). The baseline in the same
run is poppler's `pdftoppm` drawing the same page at the same width (the other renderer the issue
names; it draws only, without boxes), one process per page as it would be used.

Memory: the worker's resident set after it has started, after the text page and after the scan
(it keeps up to 4 documents open), and what one open page costs the app: the page's HTML (the PNG
as a data: URI, kept by Gradio as the panel's value for that browser session).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.viewer.pdf_render import Box  # noqa: E402
from rag.viewer.render_worker import RenderWorkers  # noqa: E402
from rag.viewer.views import PageView  # noqa: E402
from rag.web.viewer_panel import page_html  # noqa: E402
from tests.samples import make_scanned_pdf, pdf_from_streams  # noqa: E402

WORDS = ["heron", "egret", "stork", "crane", "ibis", "bittern", "spoonbill", "pelican", "cormorant", "gannet"]
LINES = [
    f"Line {n}: the {WORDS[n % 10]} wades near the {WORDS[(n * 3) % 10]} at {n + 5} minutes past dawn, calm."
    for n in range(46)
]


def text_pdf() -> bytes:
    stream = "BT /F1 10 Tf 12 TL 54 750 Td " + " ".join(f"({line}) Tj T*" for line in LINES) + " ET"
    return pdf_from_streams([stream.encode()])


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):7.1f} ms  p95 {p95:7.1f} ms  (n={len(ordered)})"


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return tuple(int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))


def worker_pid(workers: RenderWorkers) -> int:
    """The worker that answered last (the pool hands out the warm one first)."""
    worker = workers._free.get()
    workers._free.put(worker)
    children = subprocess.run(["pgrep", "-P", str(worker.process.pid)], capture_output=True, text=True)
    return int(children.stdout.split()[0]) if children.stdout.strip() else worker.process.pid  # under prlimit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--width", type=int, default=900)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="viewer-bench-"))
    text, scan = folder / "text.pdf", folder / "scan.pdf"
    text.write_bytes(text_pdf())
    scan.write_bytes(make_scanned_pdf([LINES], dpi=200))
    workers = RenderWorkers(workers=1)
    start = timed(lambda: workers.render(text, 1, args.width, [LINES[0]]))
    pid = worker_pid(workers)
    print(f"worker start + first page: {start:.0f} ms; worker RSS {rss_mb(pid)[0]:.0f} MB")

    page_ms, answers = [], []
    for i in range(args.runs):
        page_ms.append(
            timed(lambda i=i: answers.append(workers.render(text, 1, args.width, [LINES[i % 46]])))
        )
    assert all(len(a["boxes"]) == 1 for a in answers), "a text-layer passage was not boxed"
    after_text = rss_mb(pid)
    print(f"text page, boxed from the text layer:   {percentiles(page_ms)}")

    cold, warm, scanned = [], [], []
    for i in range(max(3, args.runs // 5)):  # Tesseract: seconds a page
        line = [LINES[(7 * i) % 46]]
        cold.append(timed(lambda line=line: scanned.append(workers.render(scan, 1, args.width, line))))
        warm.append(timed(lambda line=line: workers.render(scan, 1, round(args.width * 1.5), line)))
    found = sum(1 for a in scanned if a["boxes"])
    after_scan = rss_mb(pid)
    print(f"scanned page, OCR boxes (cold):         {percentiles(cold)}; boxed {found} of {len(scanned)}")
    print(f"scanned page, boxes kept (zoom 1.5x):   {percentiles(warm)}")

    if shutil.which("pdftoppm"):
        size = ["-scale-to-x", str(args.width), "-scale-to-y", "-1"]
        for name, path in (("text", text), ("scanned", scan)):
            command = ["pdftoppm", "-png", "-f", "1", "-l", "1", *size, str(path)]
            runs = [
                timed(lambda command=command: subprocess.run(command, capture_output=True, check=True))
                for _ in range(max(5, args.runs // 3))
            ]
            print(f"baseline pdftoppm, {name} page (no boxes): {percentiles(runs)}")

    workers.close()
    sample = answers[-1]
    view = PageView(
        "text.pdf", 1, 1, sample["png"], sample["width"], sample["height"], [Box(**sample["boxes"][0])]
    )
    scan_view = scanned[-1]
    print(
        f"worker RSS: {after_text[0]:.0f} MB after the text page, {after_scan[0]:.0f} MB after the scan "
        f"(peak {after_scan[1]:.0f} MB)"
    )
    print(
        f"one open page in the app: text {len(page_html(view, 1.0)) / 1024:.0f} kB of HTML "
        f"(PNG {len(sample['png']) / 1024:.0f} kB, {sample['width']}x{sample['height']}); "
        f"scan {len(scan_view['png']) * 4 / 3 / 1024:.0f} kB (PNG {len(scan_view['png']) / 1024:.0f} kB)"
    )
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()

"""Seconds and peak memory of `load_document` on the hostile files of tests/reliability (issue 19).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/parser_budgets.py [CASE[:N] ...] [--timeout 300]

Each case runs in a fresh process (so its peak RSS is its own), under a wall-clock timeout;
the OCR programs' peak is reported separately (`children_mb`). With no case named, all of them.
Run it on the code before a change (e.g. an exported `git archive HEAD`) with `--root DIR` to get
the "before" figures of docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {  # name: (file name, builder of the hostile_files module, size when none is given)
    "gridspan": ("span.docx", lambda h, n: h.docx_grid_span(n), 1_000_000),
    "vmerge": ("merge.docx", lambda h, n: h.docx_vertical_merge(n, 10), 1000),
    "entities": ("laugh.docx", lambda h, n: h.docx_entity_chain(), 0),
    "deepxml": ("deep.docx", lambda h, n: h.docx_deep_nesting(), 0),
    "tables": ("tables.html", lambda h, n: h.html_nested_tables(n).encode(), 200),
    "divs": ("divs.html", lambda h, n: h.html_nested_elements(n).encode(), 5000),
    "ocrpages": ("pages.pdf", lambda h, n: h.pdf_pages_sharing_one_image(n, pixels=200), 2000),
    "dots": ("dots.pdf", lambda h, n: h.pdf_pages_sharing_one_image(n), 2000),
    "hugepage": ("huge.pdf", lambda h, n: h.pdf_huge_page(pixels=200), 0),
}


def run_case(case: str, n: int, root: Path) -> None:
    """In this process: build the file, load it, print one line of figures."""
    sys.path[:0] = [str(root), str(ROOT)]  # the code under test first, the hostile files from here
    from rag.ingest.loaders import load_document
    from tests.reliability import hostile_files

    name, build, default = CASES[case]
    data = build(hostile_files, n or default)
    started = time.perf_counter()
    try:
        document = load_document(name, data)
        outcome = f"loaded {sum(len(p.text) for p in document.pages):,} characters"
    except Exception as exc:  # the point is to see what happens
        outcome = f"{type(exc).__name__}: {' '.join(str(exc).split())[:240]}"
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"{case}:{n or default} {len(data):,} bytes {seconds:.2f} s peak {own:.0f} MB "
        f"children {children:.0f} MB -> {outcome}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help=f"of {', '.join(CASES)}; CASE:N sets the size")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--root", type=Path, default=ROOT, help="the tree whose `rag` is measured")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        case, _, n = args.one.partition(":")
        run_case(case, int(n or 0), args.root)
        return
    for spec in args.cases or list(CASES):
        command = [sys.executable, __file__, "--one", spec, "--root", str(args.root)]
        try:
            subprocess.run(command, timeout=args.timeout, check=False)
        except subprocess.TimeoutExpired:
            print(f"{spec}: still running after {args.timeout:g} s; stopped", flush=True)


if __name__ == "__main__":
    main()

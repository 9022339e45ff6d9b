"""Full-corpus ingestion, an earlier commit against this tree, back to back in one run.

    .venv/bin/python bench/ingest_paired.py --baseline-ref cd853cc [DIR] [--files N]

The earlier commit's `rag/` is extracted with `git archive` into a temporary folder; each side runs
`python -m rag ingest DIR` in its own process into its own temporary Milvus Lite store, with the
packaged MiniLM, so both pay the same start-up and see the same files. Chunk counts differ between
the two (section-aware chunking), so the comparison that matters is the time per corpus. CPU
seconds (user + system of the ingest process, as reaped) are reported next to the wall clock: on a
shared machine they move much less with other people's load.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "milvus-docs-2.4"


def run_ingest(code_dir: Path, folder: Path, data_dir: str) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds, files, new chunks) of one `python -m rag ingest` run."""
    env = os.environ | {"RAG_DATA_DIR": data_dir, "RAG_EMBED_MODEL": "packaged", "HF_HUB_OFFLINE": "1"}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = usage.ru_utime + usage.ru_stime
    began = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "rag", "ingest", str(folder)],
        cwd=code_dir,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    found = re.search(r"(\d+) files, (\d+) new chunks", out.stderr)
    if out.returncode not in (0, 1) or not found:
        raise SystemExit(f"ingest in {code_dir} failed:\n{out.stderr[-2000:]}")
    return elapsed, cpu, int(found.group(1)), int(found.group(2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", default=str(CORPUS))
    parser.add_argument("--baseline-ref", required=True, help="git commit or branch to compare with")
    parser.add_argument("--files", type=int, default=0, help="only the first N files (sorted); 0: all")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as base, tempfile.TemporaryDirectory() as data:
        folder = Path(args.folder)
        if args.files:
            folder = Path(data) / "corpus"
            files = sorted(p for p in Path(args.folder).rglob("*") if p.is_file())[: args.files]
            for path in files:
                target = folder / path.relative_to(args.folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline_ref, "rag"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", base], input=archive.stdout, check=True)
        rows = []
        for label, code in ((f"baseline ({args.baseline_ref})", Path(base)), ("this tree", ROOT)):
            seconds, cpu, files, chunks = run_ingest(code, folder, str(Path(data) / label.split()[0]))
            rows.append((label, files, chunks, seconds, cpu))
            print(
                f"{label}: {files} files, {chunks} chunks, {seconds:.1f} s, {cpu:.1f} CPU s", file=sys.stderr
            )
    base_s, base_cpu = rows[0][3], rows[0][4]
    print("| code | files | chunks | wall s | files/s | vs baseline (wall) | CPU s | vs baseline (CPU) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, files, chunks, seconds, cpu in rows:
        print(
            f"| {label} | {files} | {chunks} | {seconds:.1f} | {files / seconds:.3f} | "
            f"{base_s / seconds:.2f}x | {cpu:.1f} | {base_cpu / cpu:.2f}x |"
        )


if __name__ == "__main__":
    main()

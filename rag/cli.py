"""`python -m rag ingest | search | docs | delete | eval | ask | reset | reindex`: parses arguments, prints.

Every command opens the library from settings (environment), so the CLI and the web app see the
same store. Exit status: 0 ok, 1 a file or question failed, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence

from rag.errors import RagError
from rag.settings import Settings
from rag.types import SHARED_OWNER


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rag", description="RAG over your documents.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="add files or folders (recursive) to the library")
    ingest.add_argument("paths", nargs="+")
    _owner_arguments(ingest)

    search = sub.add_parser("search", help="show the chunks ranked for a question")
    search.add_argument("question")
    search.add_argument("-k", type=int, default=None, help="how many chunks (default RAG_TOP_K)")
    _owner_arguments(search)

    ask = sub.add_parser("ask", help="answer a question from the library, streaming")
    ask.add_argument("question")
    ask.add_argument("-k", type=int, default=None)
    _owner_arguments(ask)

    docs = sub.add_parser("docs", help="list documents")
    _owner_arguments(docs)

    delete = sub.add_parser("delete", help="delete a document by name")
    delete.add_argument("name")
    _owner_arguments(delete)

    evaluate = sub.add_parser("eval", help="measure retrieval on a question file")
    evaluate.add_argument("questions")
    evaluate.add_argument("--corpus", required=True, help="folder the gold sources are relative to")
    evaluate.add_argument("-k", type=int, default=5)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")

    reindex = sub.add_parser("reindex", help="rebuild the vector index if the collection's size calls for it")
    reindex.add_argument("--force", action="store_true", help="rebuild even if the index fits")

    reset = sub.add_parser("reset", help="drop the whole collection (all documents of all users)")
    reset.add_argument("--yes", action="store_true", help="really do it")
    return parser


def _owner_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--shared", action="store_true", help="the shared library (the default)")
    group.add_argument("--user", help="a login user's private workspace instead")


def owner_of(args: argparse.Namespace) -> str:
    from rag.workspaces import user_owner

    return user_owner(args.user) if args.user else SHARED_OWNER


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    # vLLM logs to stdout by default; leave logging to us so answers and results stay clean
    os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "0")
    try:
        settings = Settings.from_env()
        return COMMANDS[args.command](args, settings)
    except (RagError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from rag.ingest import collect_files
    from rag.library import Library

    files = collect_files(args.paths)
    missing = [f.name for f in files if not f.path.exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    library = Library.open(settings)
    print(f"embedding model: {library.embedder.name}; store: {settings.milvus_target}", file=sys.stderr)
    start = time.perf_counter()
    with tqdm(total=len(files), unit="file", file=sys.stderr) as bar:

        def progress(fraction: float, message: str) -> None:
            bar.n = round(fraction * len(files), 2)
            bar.set_description_str(message[:60], refresh=True)

        results = library.ingestor.ingest_files(files, owner_of(args), progress)
    for result in results:
        print(result.describe())
    elapsed = time.perf_counter() - start
    new_chunks = sum(r.chunks for r in results if r.status in ("added", "replaced"))
    print(
        f"{len(results)} files, {new_chunks} new chunks in {elapsed:.1f} s "
        f"({new_chunks / elapsed:.1f} chunks/s)",
        file=sys.stderr,
    )
    return 1 if any(r.status == "failed" for r in results) else 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from rag.library import Library

    retrieval = Library.open(settings).retrieve(args.question, _visible(args), k=args.k)
    for hit in retrieval.hits:
        page = f" p.{hit.chunk.page}" if hit.chunk.page else ""
        print(f"[{hit.rank}] {hit.score:.3f}  {hit.chunk.source}{page} #{hit.chunk.index}")
        print("    " + hit.chunk.text[:300].replace("\n", " "))
    print(f"({retrieval.elapsed_ms:.0f} ms; score = cosine similarity, higher is closer)", file=sys.stderr)
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from rag.chat import print_answer

    return asyncio.run(print_answer(settings, args.question, _visible(args), args.k))


def cmd_docs(args: argparse.Namespace, settings: Settings) -> int:
    from rag.library import Library

    documents = Library.open(settings).store.list_documents([owner_of(args)])
    for doc in documents:
        added = time.strftime("%Y-%m-%d %H:%M", time.localtime(doc.added_at))
        print(f"{doc.source}\t{doc.chunks} chunks\t{doc.pages} pages\t{added}")
    print(f"{len(documents)} documents", file=sys.stderr)
    return 0


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    from rag.library import Library

    if not Library.open(settings).delete_named(owner_of(args), args.name):
        print(f"error: no document named {args.name!r}", file=sys.stderr)
        return 1
    print(f"deleted {args.name}")
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from rag.evaluate import evaluate, read_questions
    from rag.ingest import collect_files
    from rag.library import Library

    questions = read_questions(args.questions)
    library = Library.open(settings)
    results = library.ingestor.ingest_files(collect_files([args.corpus]), SHARED_OWNER)
    failed = [r for r in results if r.status == "failed"]
    for result in failed:
        print(result.describe(), file=sys.stderr)
    report = evaluate(library, questions, args.k)
    if args.json:
        print(report.to_json())
        return 0
    print(f"embedding model: {report.embed_model}; {report.n} questions, k={report.k}")
    print(
        f"hit@{report.k} {report.hit_at_k:.3f}  MRR@{report.k} {report.mrr_at_k:.3f}  "
        f"p50 {report.p50_ms:.1f} ms  p95 {report.p95_ms:.1f} ms"
    )
    for miss in report.misses:
        print(f"missed {miss.id}: {miss.question}\n    gold {miss.gold_sources}\n    got  {miss.retrieved}")
    return 0


def cmd_reset(args: argparse.Namespace, settings: Settings) -> int:
    from rag.store import drop_collection

    if not args.yes:
        print(
            f"this deletes every document in {settings.collection!r}; run again with --yes", file=sys.stderr
        )
        return 2
    drop_collection(settings)
    print(f"dropped {settings.collection}")
    return 0


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    from rag.store import reindex_collection

    rows, plan, rebuilt = reindex_collection(settings, force=args.force)
    print(f"{settings.collection}: {rows} chunks, index {plan.describe()}{' (rebuilt)' if rebuilt else ''}")
    return 0


def _visible(args: argparse.Namespace) -> list[str]:
    from rag.workspaces import visible_owners

    return visible_owners(owner_of(args))


COMMANDS = {
    "ingest": cmd_ingest,
    "search": cmd_search,
    "ask": cmd_ask,
    "docs": cmd_docs,
    "delete": cmd_delete,
    "eval": cmd_eval,
    "reset": cmd_reset,
    "reindex": cmd_reindex,
}

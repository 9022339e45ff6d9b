"""`python -m rag ingest | sync | search | ask | docs | delete | eval | reindex | feedback | reset`: parses
arguments, prints.

Every command builds an `Assistant` from settings (environment), so the CLI and the web app see
the same store and use the same use cases. Exit status: 0 ok, 1 a file or question failed, 2 bad
usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rag.errors import RagError
from rag.settings import Settings
from rag.types import (
    SCORE_EXPLANATION,
    SHARED_OWNER,
    AnswerChecks,
    DeltaEvent,
    ErrorEvent,
    HitsEvent,
    ReviewEvent,
    StatsEvent,
)

if TYPE_CHECKING:  # the evaluation is imported by `eval` alone (start-up time)
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rag", description="RAG over your documents.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="add files, folders (recursive) or web pages to the library")
    ingest.add_argument("paths", nargs="+", help="files, folders or http(s) URLs (a sitemap: its pages)")
    ingest.add_argument(
        "--follow", action="store_true", help="a URL: also the pages it links to under its folder (2 deep)"
    )
    _owner_arguments(ingest)

    sync = sub.add_parser(
        "sync", help="make the library match a folder or URL: re-ingest what changed, remove what is gone"
    )
    sync.add_argument("source", help="a folder, or an http(s) URL (a page or a sitemap)")
    sync.add_argument("--follow", action="store_true", help="a URL: also the pages it links to (2 deep)")
    _owner_arguments(sync)

    search = sub.add_parser("search", help="show the chunks ranked for a question")
    search.add_argument("question")
    search.add_argument("-k", type=int, default=None, help="how many chunks (default RAG_TOP_K)")
    _owner_arguments(search)

    ask = sub.add_parser("ask", help="answer a question from the library, streaming")
    ask.add_argument("question")
    ask.add_argument("-k", type=int, default=None)
    ask.add_argument(
        "--history",
        help="the conversation so far: JSON {role, content} messages, or one earlier question a line",
    )
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
    evaluate.add_argument(
        "--retrieval",
        default="",
        help="comma-separated modes to score in one run, e.g. dense,hybrid (default RAG_RETRIEVAL); "
        "the first one's figures are the top-level keys of --json",
    )
    evaluate.add_argument(
        "--answers",
        action="store_true",
        help="ask every turn through the whole chat path (the model's rewrite where it is on, and "
        "generation): each answer becomes the assistant's turn of the history; needs the LLM",
    )
    evaluate.add_argument(
        "--unrelated-history",
        action="store_true",
        help="also ask every first question after an unrelated one from the file (distracted_*)",
    )

    reindex = sub.add_parser(
        "reindex",
        help="convert a collection made by an earlier version (keyword index, sections), rewrite keyword "
        "text an older analyzer made, then rebuild the vector index if the collection's size calls for "
        "another one",
    )
    reindex.add_argument("--force", action="store_true", help="rebuild the vector index even if it fits")

    feedback = sub.add_parser("feedback", help="summarise the 👍/👎 votes on answers")
    feedback.add_argument("--export", action="store_true", help="print every vote as JSON lines instead")

    reset = sub.add_parser("reset", help="drop the whole collection (all documents of all users)")
    reset.add_argument("--yes", action="store_true", help="really do it")
    return parser


def _owner_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--shared", action="store_true", help="the shared library (the default)")
    group.add_argument("--user", help="a login user's private workspace instead")


def owner_of(args: argparse.Namespace) -> str:
    from rag.workspace.owners import user_owner

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

    from rag.assistant import Assistant
    from rag.ingest.fetch import is_url
    from rag.ingest.pipeline import collect_files

    urls = [p for p in args.paths if is_url(p)]
    files = collect_files([p for p in args.paths if not is_url(p)])
    missing = [f.name for f in files if not f.path.exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    with Assistant(settings) as assistant:
        print(
            f"embedding model: {assistant.embed_model}; store: {settings.store.milvus_target}",
            file=sys.stderr,
        )
        start = time.perf_counter()
        with tqdm(total=len(files), unit="file", file=sys.stderr) as bar:

            def progress(fraction: float, message: str) -> None:
                bar.n = round(fraction * len(files), 2)
                bar.set_description_str(message[:60], refresh=True)

            results = assistant.ingest(files, owner_of(args), progress) if files else []
            for url in urls:  # per page: the bar's text names the page
                results += assistant.ingest_url(url, owner_of(args), progress, follow=args.follow)
    for result in results:
        print(result.describe())
    elapsed = time.perf_counter() - start
    new_chunks = sum(r.chunks for r in results if r.status in ("added", "replaced"))
    print(
        f"{len(results)} files or pages, {new_chunks} new chunks in {elapsed:.1f} s "
        f"({new_chunks / elapsed:.1f} chunks/s)",
        file=sys.stderr,
    )
    return 1 if any(r.status == "failed" for r in results) else 0


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    """One line per change (added, updated, removed, failed) on stdout; the counts on stderr."""
    from rag.assistant import Assistant

    with Assistant(settings) as assistant:
        report = assistant.sync(args.source, owner_of(args), follow=args.follow)
    for action in report.changes:
        print(action.describe())
    print(report.summary(), file=sys.stderr)
    return 1 if any(a.action == "failed" for a in report.actions) else 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from rag.assistant import Assistant

    with Assistant(settings) as assistant:
        retrieval = assistant.retrieve(args.question, owner_of(args), k=args.k)
    if retrieval.query:
        print(f"({retrieval.query})", file=sys.stderr)
    for hit in retrieval.hits:
        print(f"{hit.citation()} (score {hit.score:.3f}, chunk {hit.chunk.index})")
        print("    " + hit.chunk.text[:300].replace("\n", " "))
    print(f"({retrieval.elapsed_ms:.0f} ms; {SCORE_EXPLANATION})", file=sys.stderr)
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    history = read_history(args.history) if args.history else []
    return asyncio.run(print_answer(settings, args.question, owner_of(args), args.k, history))


def read_history(path: str) -> list[dict[str, str]]:
    """A conversation file: JSON messages, or plain earlier questions (one a line, no answers)."""
    import json
    from pathlib import Path

    text = Path(path).read_text(encoding="utf-8")
    try:
        messages = json.loads(text)
    except json.JSONDecodeError:
        return [
            message
            for line in text.splitlines()
            if line.strip()
            for message in ({"role": "user", "content": line.strip()}, {"role": "assistant", "content": ""})
        ]
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise ValueError(f"{path}: expected a JSON list of {{role, content}} messages")
    return [{"role": str(m["role"]), "content": str(m.get("content") or "")} for m in messages]


async def print_answer(
    settings: Settings, question: str, owner: str, k: int | None, history: list[dict[str, str]] | None = None
) -> int:
    """Stream the answer to the terminal, then its checks and the numbered sources."""
    from rag.assistant import Assistant

    assistant = Assistant(settings)
    print(
        f"(starting {settings.generation.llm_backend} model {assistant.model_name} …)",
        file=sys.stderr,
        flush=True,
    )
    hits, status = [], 0
    try:
        async for event in assistant.answer(question, owner, history or [], k=k):
            if isinstance(event, HitsEvent):
                hits = event.hits
                if event.query:
                    print(f"({event.query})", file=sys.stderr, flush=True)
            elif isinstance(event, DeltaEvent):
                print(event.text, end="", flush=True)
            elif isinstance(event, ErrorEvent):
                print(f"\nerror: {event.message}", file=sys.stderr)
                status = 1
            elif isinstance(event, StatsEvent):
                print(f"\n\n({event.stats.describe()})", file=sys.stderr)
            elif isinstance(event, ReviewEvent):
                print_checks(event.checks)
        print(f"\nSources ({SCORE_EXPLANATION}):")
        for hit in hits:
            print(f"{hit.citation()} (score {hit.score:.3f})")
    finally:
        assistant.close()
    return status


def print_checks(checks: AnswerChecks) -> None:
    """The answer's checks after it (the line the web app shows), then each sentence that its
    sources don't support, with its best similarity and the sources it was compared with."""
    print(f"\n\n{checks.describe()}")
    for weak in checks.unsupported:
        compared = ", ".join(f"[{n}]" for n in weak.compared)
        print(f"  not supported ({weak.score:.2f} against {compared}): {weak.sentence}")


def cmd_docs(args: argparse.Namespace, settings: Settings) -> int:
    from rag.assistant import Assistant

    with Assistant(settings) as assistant:
        documents = assistant.documents(owner_of(args), include_shared=False)
    for doc in documents:
        added = time.strftime("%Y-%m-%d %H:%M", time.localtime(doc.added_at))
        print(f"{doc.source}\t{doc.chunks} chunks\t{doc.pages} pages\t{added}")
    print(f"{len(documents)} documents", file=sys.stderr)
    return 0


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    from rag.assistant import Assistant

    with Assistant(settings) as assistant:
        deleted = assistant.delete_named(owner_of(args), args.name)
    if not deleted:
        print(f"error: no document named {args.name!r}", file=sys.stderr)
        return 1
    print(f"deleted {args.name}")
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from rag.assistant import Assistant
    from rag.evaluate import evaluate, read_questions, through_chat
    from rag.ingest.pipeline import collect_files
    from rag.settings import RETRIEVAL_MODES

    modes = [m.strip() for m in args.retrieval.split(",") if m.strip()] or [settings.search.retrieval]
    unknown = [m for m in modes if m not in RETRIEVAL_MODES]
    if unknown:
        raise ValueError(f"unknown retrieval mode(s) {', '.join(unknown)}; use {', '.join(RETRIEVAL_MODES)}")
    conversations = read_questions(args.questions)
    assistant = Assistant(settings)
    # one loop for every turn (an in-process engine keeps to the loop that first used it); closing
    # the runner runs it once more, so the engine's clients close their sockets and the process exits
    with asyncio.Runner() as runner:
        try:
            results = assistant.ingest(collect_files([args.corpus]), SHARED_OWNER)
            for result in results:
                if result.status == "failed":
                    print(result.describe(), file=sys.stderr)
            ask = None
            if args.answers:
                model = f"{settings.generation.llm_backend} model {assistant.model_name}"
                print(f"(answers by {model})", file=sys.stderr)
                ask = through_chat(assistant, SHARED_OWNER, args.k, runner.get_loop())
            report = evaluate(
                assistant.library,
                conversations,
                args.k,
                modes=modes,
                unrelated_history=args.unrelated_history,
                ask=ask,
            )
        finally:
            assistant.close()
    if args.json:
        print(report.to_json())
        return 0
    print(report.describe(len(conversations)))
    return 0


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    from rag.store.migrations import convert_schema
    from rag.store.vector_store import rebuild_index

    print(
        f"converting {settings.store.collection!r} in {settings.store.milvus_target} if needed",
        file=sys.stderr,
    )
    with percent_bar() as progress:
        copied = convert_schema(settings, progress)
    if copied:
        print(
            f"converted {copied} chunks: keyword search works for them now. Section paths can't be "
            "recovered for them (the original files aren't kept); upload those files again to add them."
        )
    refresh_keyword_text(settings)
    rows, plan, rebuilt = rebuild_index(settings, force=args.force)
    print(
        f"{settings.store.collection}: {rows} chunks, index {plan.describe()}"
        + (" (rebuilt)" if rebuilt else "")
    )
    return 0


def refresh_keyword_text(settings: Settings) -> None:
    """Rewrite the keyword text an older analyzer made (the app does it at start in the background,
    but not on a Milvus server: rag/retrieval/keyword_upkeep.py)."""
    from rag.store.vector_store import refresh_keywords
    from rag.text.keywords import ANALYZER_VERSION, keyword_text

    with percent_bar() as progress:
        report = refresh_keywords(settings, keyword_text, ANALYZER_VERSION, progress)
    if report is not None:
        print(
            f"keyword text: {report.rewritten} of {report.scanned} chunks rewritten for keyword analyzer "
            f"{ANALYZER_VERSION} in {report.seconds:.1f} s"
        )


@contextmanager
def percent_bar() -> Iterator[Callable[[float, str], None]]:
    """A progress bar in percent on standard error, as the `progress(fraction, message)` a long
    store operation reports to."""
    from tqdm import tqdm

    with tqdm(total=100, unit="%", file=sys.stderr) as bar:

        def progress(fraction: float, message: str) -> None:
            bar.n = round(fraction * 100, 1)
            bar.set_description_str(message[:60], refresh=True)

        yield progress


def cmd_feedback(args: argparse.Namespace, settings: Settings) -> int:
    from rag.workspace.conversations import ConversationStore, conversations_path
    from rag.workspace.feedback import export_votes, feedback_path, read_feedback, summarize

    path = conversations_path(settings.store.data_dir)
    legacy = feedback_path(settings.store.data_dir)  # an earlier version's log, still counted
    older, unreadable = read_feedback(legacy)
    entries = older + export_votes(ConversationStore(path))
    if args.export:
        for entry in entries:
            print(json.dumps(entry, ensure_ascii=False))
    else:
        print(summarize(entries, unreadable).describe())
    print(f"({path}" + (f"; {len(older)} older votes from {legacy})" if older else ")"), file=sys.stderr)
    return 0


def cmd_reset(args: argparse.Namespace, settings: Settings) -> int:
    from rag.store.schema import drop_collection

    if not args.yes:
        print(
            f"this deletes every document in {settings.store.collection!r}; run again with --yes",
            file=sys.stderr,
        )
        return 2
    drop_collection(settings)
    print(f"dropped {settings.store.collection}")
    return 0


COMMANDS = {
    "ingest": cmd_ingest,
    "sync": cmd_sync,
    "search": cmd_search,
    "ask": cmd_ask,
    "docs": cmd_docs,
    "delete": cmd_delete,
    "eval": cmd_eval,
    "reindex": cmd_reindex,
    "feedback": cmd_feedback,
    "reset": cmd_reset,
}

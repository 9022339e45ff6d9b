"""The CLI as users run it, on a real store and model: each command in a process of its own (forked
from a server that has imported the CLI's modules once, see tests/cli_processes.py), and through
`python -m rag` itself for the entry point."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_processes import run_python, run_rag
from tests.samples import make_pdf, make_zip

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "assets" / "sample"
pytestmark = pytest.mark.slow


def cli_env(tmp_path: Path, **extra_env: str) -> dict[str, str]:
    return os.environ | {
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "RAG_EMBED_MODEL": "packaged",
        "HF_HUB_OFFLINE": "1",
        **extra_env,
    }


def rag(tmp_path: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    return run_rag(args, cli_env(tmp_path, **extra_env))


def python_m_rag(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The entry point a user types: a new interpreter that imports everything itself."""
    return subprocess.run(
        [sys.executable, "-m", "rag", *args],
        cwd=ROOT,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_ingest_docs_search_delete(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "manual.pdf").write_bytes(make_pdf(["The pump must be primed before the first start."]))
    (folder / "broken.pdf").write_bytes(make_zip())
    (folder / "notes.md").write_text("# Notes\n\nThe valve opens clockwise.")
    out = python_m_rag(tmp_path, "ingest", str(folder))
    assert out.returncode == 1, out.stderr  # one file failed
    lines = out.stdout.splitlines()
    assert (
        "broken.pdf: failed: the content is a ZIP archive (e.g. .zip), not PDF, Word (.docx), "
        "PowerPoint (.pptx), HTML, Markdown or plain text" in lines
    )
    assert "manual.pdf: added (1 chunks)" in lines and "notes.md: added (1 chunks)" in lines
    assert "packaged" in out.stderr  # says which embedding model is in use

    again = rag(tmp_path, "ingest", str(folder / "notes.md"))
    assert again.returncode == 0 and again.stdout.strip() == "notes.md: unchanged"

    docs = rag(tmp_path, "docs")
    assert [line.split("\t")[0] for line in docs.stdout.splitlines()] == ["manual.pdf", "notes.md"]

    search = rag(tmp_path, "search", "How do I prime the pump?", "-k", "1")
    assert search.returncode == 0 and search.stdout.startswith("[1] manual.pdf, page 1 (score ")

    assert rag(tmp_path, "delete", "manual.pdf").returncode == 0
    assert rag(tmp_path, "delete", "manual.pdf").returncode == 1
    assert "manual.pdf" not in rag(tmp_path, "docs").stdout


def test_eval_json_on_the_sample(tmp_path):
    questions = Path(__file__).parent / "data" / "sample_questions.jsonl"  # dev questions about the sample
    lines = questions.read_text().splitlines()
    out = rag(tmp_path, "eval", str(questions), "--corpus", str(SAMPLE), "-k", "5", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["n"] == len(lines) >= 5
    assert set(report) >= {"hit_at_k", "mrr_at_k", "n", "p50_ms", "p95_ms", "misses"}
    assert report["hit_at_k"] >= 0.8 and 0 < report["mrr_at_k"] <= report["hit_at_k"]
    assert report["p50_ms"] > 0 and report["p95_ms"] >= report["p50_ms"]


def test_feedback_summary_and_export(tmp_path):
    from rag.workspace.conversations import ConversationStore, Turn
    from rag.workspace.feedback import feedback_entry

    assert rag(tmp_path, "feedback").stdout.strip() == "no feedback yet"
    store = ConversationStore(tmp_path / "data" / "conversations.db")
    for vote in ("up", "down"):
        conversation = store.append("anon:o", None, Turn("Which port?", "7341", [], "", "port"))
        store.vote("anon:o", conversation, 0, vote, "m")
    older = feedback_entry(  # a line of the log earlier versions kept
        question="Old?",
        query="old",
        hits=[],
        answer="a",
        model="m",
        checks={},
        vote="up",
        owner="o",
        key=b"k",
    )
    (tmp_path / "data" / "feedback.jsonl").write_text(json.dumps(older) + "\n")
    summary = rag(tmp_path, "feedback")
    assert summary.returncode == 0 and summary.stdout.startswith("3 votes: 2 up, 1 down (67% up)")
    exported = rag(tmp_path, "feedback", "--export").stdout.splitlines()
    assert [(json.loads(line)["question"], json.loads(line)["vote"]) for line in exported] == [
        ("Old?", "up"),
        ("Which port?", "up"),
        ("Which port?", "down"),
    ]


def test_word_powerpoint_and_scanned_pdf_answer_from_their_content(tmp_path):
    import shutil

    from tests.samples import office_files

    folder = tmp_path / "office"
    folder.mkdir()
    ocr = shutil.which("tesseract") is not None
    for name, data in office_files(with_scan=ocr).items():
        (folder / name).write_bytes(data)
    out = rag(tmp_path, "ingest", str(folder))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("maintenance.docx: added (") for line in lines)
    assert any(line.startswith("deck.pptx: added (") for line in lines)

    docx = rag(tmp_path, "search", "How often must the oil filter be replaced?", "-k", "3").stdout
    assert "] maintenance.docx (score " in docx  # among the top 3 (hybrid ranks a tiny corpus noisily)
    assert "| Oil filter | 250 operating hours |" in docx

    pptx = rag(tmp_path, "search", "What do quokkas eat?", "-k", "3").stdout
    assert "] deck.pptx, slide 2 (score " in pptx and "Never feed them bread" in pptx

    if ocr:  # `make test` installs Tesseract; without it test_ocr.py checks the message instead
        assert any(line.startswith("scan.pdf: added (") and line.endswith(" chunks, OCR)") for line in lines)
        scan = rag(tmp_path, "search", "Which port does the quokka protocol listen on?", "-k", "1").stdout
        assert scan.startswith("[1] scan.pdf, page 2 (score ") and "port 7341" in scan


def test_eval_scores_several_modes_in_one_run(tmp_path):
    questions = Path(__file__).parent / "data" / "sample_questions.jsonl"
    out = rag(
        tmp_path, "eval", str(questions), "--corpus", str(SAMPLE), "--retrieval", "dense,hybrid", "--json"
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert list(report["modes"]) == ["dense", "hybrid"] and report["mode"] == "dense"
    assert report["hit_at_k"] == report["modes"]["dense"]["hit_at_k"]
    bad = rag(tmp_path, "eval", str(questions), "--corpus", str(SAMPLE), "--retrieval", "fuzzy")
    assert bad.returncode == 2 and "fuzzy" in bad.stderr
    # a conversation of the same questions through the chat path (the scripted model, no rewrite):
    # answers are generated and go into the history; the same chunks are found as by retrieval
    turns = [json.loads(line) for line in questions.read_text().splitlines()[:3]]
    conversation = tmp_path / "conversation.jsonl"
    conversation.write_text(json.dumps({"id": "c", "turns": turns}))
    asked = ["eval", str(conversation), "--corpus", str(SAMPLE), "--retrieval", "hybrid", "--json"]
    searched = json.loads(rag(tmp_path, *asked).stdout)["modes"]["hybrid"]
    chat = rag(tmp_path, *asked, "--answers", RAG_LLM_BACKEND="fake", RAG_QUERY_REWRITE_S="0")
    assert chat.returncode == 0 and "(answers by fake model" in chat.stderr, chat.stderr
    answered = json.loads(chat.stdout)["modes"]["hybrid"]
    assert answered["followup_n"] == 2
    for key in ("hit_at_k", "mrr_at_k", "followup_hit_at_k", "followup_mrr_at_k"):
        assert answered[key] == searched[key], key


KETTLES = (
    "# Kettles\n\nKettles come in many colours and sizes.\n\n"
    "The blue kettle boils a litre of water in exactly ninety seconds on the big stove.\n"
)


def test_ask_prints_the_answer_then_its_checks_then_the_sources(tmp_path):
    (tmp_path / "kettles.md").write_text(KETTLES)
    assert rag(tmp_path, "ingest", str(tmp_path / "kettles.md")).returncode == 0
    # the scripted model quotes source [1] and cites it, and cites the [7] the question names
    fake = {"RAG_LLM_BACKEND": "fake", "RAG_FAKE_DELAY_S": "0"}
    out = rag(tmp_path, "ask", "How fast does the blue kettle boil? Compare [7].", **fake)
    assert out.returncode == 0, out.stderr
    answer, after = out.stdout.split("\n\n", 1)
    checks, sources = after.split("\nSources", 1)
    assert answer == f"{KETTLES.splitlines()[-1].rstrip('.')} [1]. See also [7]."
    assert checks.strip() == (
        "⚠ Checks: cites [7] but there is no such source (cites [1] · 1 of 1 sentences supported)"
    )
    assert sources.splitlines()[1].startswith("[1] kettles.md (score ")
    assert "tokens/s" in out.stderr and "Checks" not in out.stderr  # the stats stay on standard error


def test_eval_answers_reports_the_checks_of_the_asked_answers(tmp_path):
    questions = Path(__file__).parent / "data" / "sample_questions.jsonl"
    fake = {"RAG_LLM_BACKEND": "fake", "RAG_FAKE_DELAY_S": "0", "RAG_QUERY_REWRITE_S": "0"}
    asked = ["eval", str(questions), "--corpus", str(SAMPLE), "--retrieval", "hybrid", "--answers"]
    text = rag(tmp_path, *asked, **fake)
    assert text.returncode == 0, text.stderr
    n = len(questions.read_text().splitlines())
    line = next(line.strip() for line in text.stdout.splitlines() if line.strip().startswith("answers ("))
    assert line.startswith(
        f"answers ({n}): citing 1.000  citations valid 1.000 (of {n})  sentences supported "
    )
    report = json.loads(rag(tmp_path, *asked, "--json", **fake).stdout)["modes"]["hybrid"]
    assert report["answers_n"] == n and report["answers_citing"] == 1.0 and report["citations_n"] == n
    assert report["sentences_n"] > 0 and 0 < report["sentences_supported"] <= 1  # a claim: 4 words or more
    assert f"sentences supported {report['sentences_supported']:.3f} (of {report['sentences_n']})" in line
    searched = json.loads(rag(tmp_path, *asked[:-1], "--json").stdout)["modes"]["hybrid"]
    assert not any(key.startswith(("answers", "citations", "sentences")) for key in searched)


def test_old_collection_is_refused_with_its_fix_then_reindexed(tmp_path):
    make_old = (  # in its own process: a Milvus Lite file is held by the process that opened it
        "from rag.settings import Settings; "
        "from tests.store.test_migrations import _old_schema_collection; "
        f"_old_schema_collection(Settings.from_env({{}}, data_dir={str(tmp_path / 'data')!r}), 3, 384)"
    )
    made = run_python(make_old, [], cli_env(tmp_path), timeout=300)
    assert made.returncode == 0, made.stderr
    refused = rag(tmp_path, "docs")
    assert refused.returncode == 2 and "python -m rag reindex" in refused.stderr
    done = rag(tmp_path, "reindex")
    assert done.returncode == 0 and "converted 3 chunks" in done.stdout, done.stderr
    assert "3 chunks" in rag(tmp_path, "docs").stdout


def test_ingest_a_url_and_refuse_a_private_one(tmp_path):
    from tests.ingest.web_site import Site, html_page, serve

    page = html_page("Pump guide", "The pump is primed by opening the red valve twice.")
    with serve(Site(pages={"/guide.html": ("text/html", page)})) as site:
        url = site.base + "/guide.html"
        refused = rag(tmp_path, "ingest", url)
        assert refused.returncode == 1
        assert refused.stdout.startswith(f"{url}: failed: refused: 127.0.0.1 is a loopback address")
        out = rag(tmp_path, "ingest", url, RAG_ALLOW_PRIVATE_URLS="127.0.0.1")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"{url}: added (1 chunks)"
    search = rag(tmp_path, "search", "How is the pump primed?", "-k", "1")
    assert search.stdout.startswith(f"[1] {url} (score ")


def test_sync_a_folder_prints_exactly_what_it_did(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, text in {
        "a.txt": "Apples ripen in autumn.",
        "b.txt": "Bees make honey.",
        "c.txt": "Cats nap.",
    }.items():
        (folder / name).write_text(text)
    first = rag(tmp_path, "sync", str(folder))
    assert first.returncode == 0, first.stderr
    assert sorted(first.stdout.splitlines()) == [f"added {n}.txt (1 chunks)" for n in "abc"]
    (folder / "a.txt").write_text("Apples ripen in late autumn, pears earlier.")  # changed
    (folder / "b.txt").unlink()  # deleted
    (folder / "d.txt").write_text("Dogs fetch sticks.")  # added
    second = rag(tmp_path, "sync", str(folder))
    assert second.returncode == 0, second.stderr
    assert sorted(second.stdout.splitlines()) == [
        "added d.txt (1 chunks)",
        "removed b.txt",
        "updated a.txt (1 chunks)",
    ]
    assert f"{folder}: 1 added, 1 updated, 1 removed, 1 unchanged" in second.stderr
    docs = rag(tmp_path, "docs")
    assert [line.split("\t")[0] for line in docs.stdout.splitlines()] == ["a.txt", "c.txt", "d.txt"]

"""Japanese morphological analyzers compared for the keyword leg: speed and BM25 quality.

    /path/to/venv/bin/python bench/ja_tokenizers.py [questions.jsonl] [corpus dir]

For each analyzer that is installed (SudachiPy + sudachidict_core, fugashi + unidic-lite, Janome)
every section of the corpus (default ../shared/corpus/debian-reference-ja, tags stripped) is
segmented, timed, and ranked with a plain BM25 (k1 1.2, b 0.75) against the questions (default
../shared/eval/debian_reference_ja_dev.jsonl): hit@5 and MRR@5 per section, the same tokens-only
comparison for each analyzer (no embedder, no Milvus), plus a no-analyzer baseline (whole runs of
Japanese script as one token, what Milvus's standard tokenizer does).
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
_SKIP = re.compile(r"^[\W_]+$|^[ぁ-ゖ]{1,2}$")  # punctuation and 1-2 kana particles (は, を, から …)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return " ".join(parser.parts)


def analyzers() -> dict[str, Callable[[str], list[str]]]:
    found: dict[str, Callable[[str], list[str]]] = {
        "none (script runs)": lambda text: re.findall(r"\w+", text),
    }
    try:
        from sudachipy import Dictionary, SplitMode

        sudachi = Dictionary(dict="core").tokenizer()
        found["sudachipy A"] = lambda text: [m.surface() for m in sudachi.tokenize(text, SplitMode.A)]
        found["sudachipy C"] = lambda text: [m.surface() for m in sudachi.tokenize(text, SplitMode.C)]
    except ImportError:
        pass
    try:
        import fugashi

        tagger = fugashi.Tagger()
        found["fugashi unidic-lite"] = lambda text: [w.surface for w in tagger(text)]
    except ImportError:
        pass
    try:
        from janome.tokenizer import Tokenizer

        janome = Tokenizer()
        found["janome"] = lambda text: list(janome.tokenize(text, wakati=True))
    except ImportError:
        pass
    return found


def terms(tokens: list[str]) -> list[str]:
    return [t.lower() for t in tokens if t.strip() and not _SKIP.match(t)]


def by_line(segment: Callable[[str], list[str]], text: str) -> list[str]:
    """Line by line: SudachiPy refuses an input over 49,149 bytes (a section is up to ~150,000)."""
    return [token for line in text.splitlines() if line.strip() for token in segment(line)]


def bm25_rank(query: list[str], docs: list[Counter], lengths: list[int]) -> list[int]:
    n, avg = len(docs), sum(lengths) / len(lengths)
    df = Counter(t for d in docs for t in d)
    scores = []
    for d, length in zip(docs, lengths, strict=True):
        s = 0.0
        for t in set(query):
            if t in d:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                s += idf * d[t] * 2.2 / (d[t] + 1.2 * (0.25 + 0.75 * length / avg))
        scores.append(s)
    return sorted(range(n), key=lambda i: -scores[i])


def main() -> None:
    questions_path = Path(sys.argv[1]) if len(sys.argv) > 1 else SHARED / "eval/debian_reference_ja_dev.jsonl"
    corpus = Path(sys.argv[2]) if len(sys.argv) > 2 else SHARED / "corpus/debian-reference-ja"
    files = sorted(corpus.rglob("*.html"))
    texts = [html_text(f) for f in files]
    names = [str(f.relative_to(corpus)) for f in files]
    questions = [json.loads(line) for line in questions_path.read_text(encoding="utf-8").splitlines() if line]
    chars = sum(map(len, texts))
    print(f"{len(files)} sections, {chars:,} characters, {len(questions)} questions")
    print("| analyzer | first call s | corpus s | chars/s | hit@5 | MRR@5 |")
    print("|---|---|---|---|---|---|")
    for name, segment in analyzers().items():
        started = time.perf_counter()
        segment("準備")  # dictionary loading, counted apart
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        docs = [Counter(terms(by_line(segment, t))) for t in texts]
        took = time.perf_counter() - started
        lengths = [sum(d.values()) for d in docs]
        hits, rr = 0, 0.0
        for q in questions:
            ranked = [names[i] for i in bm25_rank(terms(segment(q["question"])), docs, lengths)[:5]]
            rank = next((r for r, n in enumerate(ranked, 1) if n in q["gold_sources"]), 0)
            hits += rank > 0
            rr += 1 / rank if rank else 0.0
        n = len(questions)
        print(f"| {name} | {loaded:.2f} | {took:.1f} | {chars / took:,.0f} | {hits / n:.2f} | {rr / n:.2f} |")


if __name__ == "__main__":
    main()

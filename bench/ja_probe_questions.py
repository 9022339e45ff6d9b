"""Japanese probe questions built mechanically from a corpus, to check a keyword-leg change on
questions nobody wrote for it (issue 23: the 30 dev questions alone can be fitted).

    .venv/bin/python bench/ja_probe_questions.py [--spelling wide|katakana] [corpus dir] > /tmp/ja/probe.jsonl
    .venv/bin/python -m rag eval /tmp/ja/probe.jsonl --corpus [corpus dir] -k 5 --retrieval keyword

Two kinds, up to SENTENCES and ROWS of them per section file (seeded: the same file every run):
- `sentence`: from a prose sentence of the section (a <p> of 20-90 characters with kana).
- `row`: from the Japanese description cell of a table row (「dpkg レベルのパッケージ選択状態情報を
  保存」), without the row's command or package name: a user asking for the command or package.
Either way the question is a sketch of the text, not the text: its content runs (runs of kanji, of
katakana or of Latin letters, found by script alone so the analyzer under test plays no part), half
of them (at least 2) kept in order, joined by particles picked at random, then one of a few plain
question endings (「には？」, 「について知りたい」 …). A first version that masked one run only put
the right section in the top 5 for 0.99 of the questions whatever the analyzer, telling nothing.
`--spelling` writes the same questions the way other users type them: `wide`, ASCII as full-width
letters (an IME's default, 「ＡＰＴ」); `katakana`, every katakana word of 4 or more characters with
the other long-vowel convention (「サーバー」 <-> 「サーバ」, both in use: JIS Z 8301 drops the mark).
Gold: every section file whose text holds the sentence / cell (a table can be repeated).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from html.parser import HTMLParser
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "debian-reference-ja"
SEED = 23
SENTENCES, ROWS = 3, 2  # per section file: ~400 questions, enough to tell 0.02 of hit@5 from noise
ENDINGS = (
    "には？",
    "するには？",
    "の方法は？",
    "にはどうすればいい？",
    "したい",
    "について知りたい",
    "とは？",
)
PARTICLES = ("の", "を", "で", "が", "と", "に")
_KANA = re.compile("[\u3040-\u30ff]")
_KATAKANA_WORD = re.compile("[\u30a1-\u30fa\u30fc]{4,}")
_RUNS = re.compile(r"[\u4e00-\u9fff々]+|[\u30a0-\u30ffー]+|[A-Za-z][A-Za-z0-9_.-]*")


class _Blocks(HTMLParser):
    """The text of each <p> and of each table cell (by row) of one HTML file."""

    def __init__(self) -> None:
        super().__init__()
        self.paragraphs: list[str] = []
        self.rows: list[list[str]] = []
        self._p: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "p":
            self._p = []
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "p" and self._p is not None:
            self.paragraphs.append(_flat("".join(self._p)))
            self._p = None
        elif tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(_flat("".join(self._cell)))
            self._cell = None

    def handle_data(self, data: str) -> None:
        for part in (self._p, self._cell):
            if part is not None:
                part.append(data)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def sentences(paragraph: str) -> list[str]:
    return [s + "。" for s in paragraph.split("。") if s.strip()]


def _described(cell: str) -> bool:
    """A description cell: Japanese, 8 to 60 characters."""
    return 8 <= len(cell) <= 60 and bool(_KANA.search(cell))


def content_runs(text: str) -> list[str]:
    return [m.group() for m in _RUNS.finditer(text) if len(m.group()) >= 2]


def sketch(text: str, rng: random.Random) -> str:
    """Half of the text's content runs (3 or more), in order, joined by random particles, with a
    question ending."""
    runs = content_runs(text)
    kept = sorted(rng.sample(range(len(runs)), max(2, len(runs) // 2)))
    words = [runs[i] + rng.choice(PARTICLES) for i in kept]
    return "".join(words)[:-1] + rng.choice(ENDINGS)


def probe(corpus: Path) -> list[dict]:
    rng = random.Random(SEED)
    files = sorted(p for p in corpus.rglob("*.html"))
    parsed = {p: _Blocks() for p in files}
    for path, blocks in parsed.items():
        blocks.feed(path.read_text(encoding="utf-8"))
    flat = {p: _flat(re.sub(r"<[^>]+>", " ", p.read_text(encoding="utf-8"))) for p in files}
    questions: list[dict] = []
    for path, blocks in parsed.items():
        name = path.relative_to(corpus).as_posix()
        prose = [
            s for para in blocks.paragraphs for s in sentences(para) if 20 <= len(s) <= 90 and _KANA.search(s)
        ]
        rng.shuffle(prose)
        for sentence in [s for s in prose if len(content_runs(s)) >= 3][:SENTENCES]:
            question = sketch(sentence, rng)
            questions.append(_entry(f"sentence-{len(questions) + 1:03d}", question, name, flat, path))
        cells = [row[-1] for row in blocks.rows if len(row) >= 2 and _described(row[-1])]
        rng.shuffle(cells)
        for cell in [c for c in cells if len(content_runs(c)) >= 3][:ROWS]:
            question = sketch(cell, rng)
            questions.append(_entry(f"row-{len(questions) + 1:03d}", question, name, flat, path, cell))
    return questions


def _entry(qid: str, question: str, name: str, flat: dict, home: Path, text: str = "") -> dict:
    """A question line; gold is its own section plus any other holding the same cell text."""
    corpus = home.parents[1]
    others = [p for p, body in flat.items() if text and p != home and text in body]
    gold = [name, *sorted(p.relative_to(corpus).as_posix() for p in others)]
    return {"id": qid, "question": question, "gold_sources": gold}


def respelled(question: str, spelling: str) -> str:
    """The question as another user types it (`--spelling`, above)."""
    if spelling == "wide":
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in question)
    if spelling == "katakana":
        return _KATAKANA_WORD.sub(
            lambda m: m.group()[:-1] if m.group().endswith("ー") else m.group() + "ー", question
        )
    return question


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=CORPUS)
    parser.add_argument("--spelling", choices=("as-written", "wide", "katakana"), default="as-written")
    args = parser.parse_args()
    for question in probe(args.corpus):
        question["question"] = respelled(question["question"], args.spelling)
        print(json.dumps(question, ensure_ascii=False))


if __name__ == "__main__":
    main()

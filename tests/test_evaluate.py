import pytest

from rag.evaluate import percentile, read_questions, reciprocal_rank
from rag.types import Chunk, Hit


def hit(rank: int, source: str) -> Hit:
    return Hit(rank, 0.5, Chunk("d", source, 0, 0, "t"))


def test_reciprocal_rank_uses_first_gold_source():
    hits = [hit(1, "a.md"), hit(2, "b.md"), hit(3, "c.md")]
    assert reciprocal_rank(hits, ["b.md", "c.md"]) == pytest.approx(0.5)
    assert reciprocal_rank(hits, ["z.md"]) == 0.0


def test_percentiles():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile([3.0], 95) == 3.0


def test_read_questions_reports_bad_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "1", "question": "q", "gold_sources": ["a"]}\n{"id": 2}\n')
    with pytest.raises(ValueError, match=r"q\.jsonl:2"):
        read_questions(path)

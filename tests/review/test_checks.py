"""Answer checks with the real packaged MiniLM: citations that exist, an uncited answer, support."""

from rag.review.checks import check_answer, check_citations
from rag.types import Chunk, Hit

HERON = (
    "The grey heron is a wading bird of wetlands. The grey heron builds its nest high in tall trees, "
    "usually in colonies near shallow water. Each nest is a platform of sticks."
)
QUOKKA = "The quokka protocol listens on port 7341. It carries telemetry from the hides."
HITS = [
    Hit(1, 0.8, Chunk("a", "guide.pdf", 1, 0, HERON)),
    Hit(2, 0.5, Chunk("b", "deck.pptx", 3, 4, QUOKKA)),
]


def test_an_uncited_answer_is_flagged():
    checks = check_citations("The heron builds its nest in tall trees.", HITS)
    assert not checks.cites_anything and checks.cited == () and checks.missing == ()
    assert checks.problems() == ["the answer cites no source"]
    assert checks.describe().startswith("⚠ Checks: the answer cites no source")


def test_a_citation_of_a_missing_source_is_flagged():
    checks = check_citations("Herons nest in trees [1]. The port is 7341 [2][5].", HITS)
    assert checks.cited == (1, 2, 5) and checks.missing == (5,) and checks.valid == (1, 2)
    assert "cites [5] but there is no such source" in checks.problems()
    assert not checks.ok


def test_lists_of_citations_count_each_number():
    assert check_citations("Both [1, 2], not [3].", HITS).cited == (1, 2, 3)


def test_a_faithful_answer_passes_every_check(embedder):
    answer = "The grey heron builds its nest high in tall trees [1]. The quokka protocol uses port 7341 [2]."
    checks = check_answer(answer, HITS, embedder)
    assert checks.ok, checks.describe()
    assert [s.best_source for s in checks.sentences] == [1, 2]
    assert all(s.score >= checks.threshold for s in checks.sentences)
    assert checks.describe() == "✓ Checks: cites [1], [2] · 2 of 2 sentences supported"


def test_a_sentence_its_source_does_not_support_is_flagged(embedder):
    answer = (
        "The grey heron builds its nest high in tall trees [1]. Quarterly revenue in Europe rose by 12% [1]."
    )
    checks = check_answer(answer, HITS, embedder)
    assert [s.supported for s in checks.sentences] == [True, False]
    assert checks.sentences[1].compared == (1,)  # compared with what the sentence itself cites
    assert "1 of 2 sentences are not supported" in checks.describe()


def test_uncited_sentences_are_compared_with_every_source_and_non_claims_are_skipped(embedder):
    checks = check_answer(
        "Yes. The quokka protocol listens on port 7341. I don't know the rest of it.", HITS, embedder
    )
    assert len(checks.sentences) == 1 and checks.sentences[0].compared == (1, 2)
    assert checks.sentences[0].best_source == 2 and checks.sentences[0].supported
    assert checks.to_dict()["problems"] == ["the answer cites no source"]

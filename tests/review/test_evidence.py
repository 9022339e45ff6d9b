"""Evidence marks, with the real packaged MiniLM (the HTML that shows them: tests/web/test_sources.py)."""

from rag.review.evidence import find_evidence, index_hits
from rag.types import Chunk, Hit

QUOKKA = (
    "The observatory opens at seven in the morning. Visitors keep to the boardwalk. "
    "The quokka protocol listens on port 7341 for telemetry from the hides. Dogs are not allowed."
)
HOSTILE = (
    'Herons nest in trees. <script>alert("x")</script><img src="http://evil/x.png" onerror="steal()"> End.'
)
HITS = [Hit(1, 0.7, Chunk("a", "guide.pdf", 2, 0, QUOKKA)), Hit(2, 0.3, Chunk("b", "x.html", 0, 1, HOSTILE))]


def test_the_sentence_holding_the_answer_is_marked_in_its_source(embedder):
    question = "Which port does the quokka protocol use?"
    marks = find_evidence(question, index_hits(HITS, embedder), embedder)
    best = max(marks[1], key=lambda m: m.score)
    assert (
        QUOKKA[best.start : best.end]
        == "The quokka protocol listens on port 7341 for telemetry from the hides."
    )
    assert best.by == "question" and len(marks[1]) <= 2


def test_the_answer_marks_what_supports_it(embedder):
    indexed = index_hits(HITS, embedder)
    answer = "The quokka protocol uses port 7341 [1]. Visitors must stay on the boardwalk [1]."
    marks = find_evidence("Which port does the quokka protocol use?", indexed, embedder, answer=answer)
    kinds = {QUOKKA[m.start : m.end]: m.by for m in marks[1]}
    assert kinds["The quokka protocol listens on port 7341 for telemetry from the hides."] == "both"
    assert kinds["Visitors keep to the boardwalk."] == "answer"

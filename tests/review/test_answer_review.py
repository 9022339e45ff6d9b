"""The per-answer review stage: marks and checks as plain data, each text embedded once."""

import json
from dataclasses import asdict

from rag.review.answer_review import AnswerReviewer, CachingEncoder
from rag.types import AnswerChecks, Chunk, EvidenceEvent, Hit, ReviewEvent

HITS = [
    Hit(
        1,
        0.7,
        Chunk("a", "guide.pdf", 2, 0, "The quokka protocol listens on port 7341. Dogs are not allowed."),
    ),
    Hit(2, 0.4, Chunk("b", "deck.pptx", 3, 1, "Herons nest in tall trees. <b>Loud</b> visitors scare them.")),
]


class Counting:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, embedder):
        self.embedder, self.texts = embedder, []

    def embed_passages(self, texts):
        self.texts += texts
        return self.embedder.embed_passages(texts)

    def embed_query(self, text):
        self.texts.append(text)
        return self.embedder.embed_query(text)


def test_the_question_marks_then_the_review_embed_each_text_once(embedder):
    counting = Counting(embedder)
    question = "Which port does the quokka protocol use?"
    reviewer = AnswerReviewer(counting, question, HITS)
    early = reviewer.question_marks()
    assert isinstance(early, EvidenceEvent) and {m.by for m in early.marks[1]} == {"question"}
    answer = "The quokka protocol uses port 7341 [1]. Herons nest in tall trees [3]."
    final = reviewer.review(answer)
    assert isinstance(final, ReviewEvent)
    assert len(counting.texts) == len(set(counting.texts))  # nothing embedded twice
    assert final.checks.missing == (3,) and final.checks.valid == (1,)
    port = "The quokka protocol listens on port 7341."
    first = final.marks[1][0]
    assert HITS[0].chunk.text[first.start : first.end] == port
    assert first.by == "both"  # like the question and like the answer
    # the herons sentence cites no real source, so it is held against [1], which doesn't support it
    assert [s.supported for s in final.checks.sentences] == [True, False]


def test_the_review_is_plain_data_that_survives_json(embedder):
    reviewer = AnswerReviewer(embedder, "Where do herons nest?", HITS)
    checks = reviewer.review("Herons nest in tall trees [2].").checks
    assert checks.ok and checks.sentences[0].best_source == 2
    again = AnswerChecks.from_dict(json.loads(json.dumps(checks.to_dict())))
    assert again == checks and again.describe() == checks.describe()
    assert asdict(again) == asdict(checks) and checks.threshold == 0.5


def test_the_caching_encoder_keeps_the_order_of_repeated_texts(embedder):
    encoder = CachingEncoder(embedder)
    vectors = encoder.embed_passages(["a cat", "a dog", "a cat"])
    assert vectors.shape[0] == 3 and (vectors[0] == vectors[2]).all() and not (vectors[0] == vectors[1]).all()
    assert encoder.embed_passages([]).shape[0] == 0

"""The per-answer review: marks, checks, panel HTML and linked answer, each text embedded once."""

from rag.review.answer_review import CachingEncoder, ReviewCache, review_answer
from rag.types import Chunk, Hit

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


def test_a_review_while_streaming_then_when_complete_embeds_each_text_once(embedder):
    counting = Counting(embedder)
    cache = ReviewCache.for_answer(counting)
    question = "Which port does the quokka protocol use?"
    early = review_answer(question, HITS, cache, answer="The port is")
    assert early.checks.sentences == () and not early.checks.cites_anything
    answer = "The quokka protocol uses port 7341 [1]. Herons nest in tall trees [3]."
    final = review_answer(question, HITS, cache, answer=answer, complete=True)
    assert len(counting.texts) == len(set(counting.texts))  # nothing embedded twice
    assert final.checks.missing == (3,) and final.checks.valid == (1,)
    panel = final.sources_html()
    assert '<div class="rag-source rag-cited" id="rag-source-1"' in panel and "&lt;b&gt;Loud" in panel
    assert "<mark" in panel.split('id="rag-source-2"')[0]  # the port sentence is marked in source 1
    linked = final.answer_markdown(answer)
    assert "[\\[1\\]](#rag-source-1)" in linked and "~~\\[3\\]~~ _(no source 3)_" in linked


def test_the_caching_encoder_keeps_the_order_of_repeated_texts(embedder):
    encoder = CachingEncoder(embedder)
    vectors = encoder.embed_passages(["a cat", "a dog", "a cat"])
    assert vectors.shape[0] == 3 and (vectors[0] == vectors[2]).all() and not (vectors[0] == vectors[1]).all()
    assert encoder.embed_passages([]).shape[0] == 0

"""Finding a passage in a page's text read by another reader (other whitespace, hyphens, case)."""

from __future__ import annotations

from rag.viewer.passages import find_span, marked_spans

PAGE = (
    "Intro line.\nThe grey heron builds its nest high in tall trees,\nusually in colo-\nnies near water. End."
)


def test_an_exact_passage_is_found_where_it_is():
    start, end = find_span(PAGE, "The grey heron builds its nest")
    assert PAGE[start:end] == "The grey heron builds its nest"


def test_line_breaks_hyphens_and_case_do_not_hide_it():
    start, end = find_span(PAGE, "usually in colonies near WATER.")
    assert PAGE[start:end] == "usually in colo-\nnies near water."


def test_a_passage_read_a_little_differently_is_found_by_its_runs():
    start, end = find_span(PAGE, "The grey heron bui1ds its nest high in ta11 trees, usually")
    assert PAGE[start:].startswith("The grey heron") and PAGE[:end].endswith("usually")


def test_a_passage_that_is_not_there_gets_no_span():
    assert find_span(PAGE, "Milvus builds an HNSW index over the vectors.") is None
    assert find_span(PAGE, "") is None and find_span("", "heron") is None


def test_every_supporting_sentence_is_marked_and_the_chunk_only_without_them():
    marks = ["usually in colonies near water.", "The grey heron builds its nest"]
    spans = marked_spans(PAGE, marks, chunk=PAGE)
    found = [PAGE[a:b] for a, b in spans]
    assert found == ["The grey heron builds its nest", "usually in colo-\nnies near water."]
    assert marked_spans(PAGE, ["Not on this page at all, really."], chunk="Intro line.") == [(0, 11)]

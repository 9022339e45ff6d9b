"""A hostile page or passage can't make the loose passage search run for minutes.

`SequenceMatcher` compares every page character with every equal passage character: a page of
one repeated letter against a 4,000-character passage of it took 8 s for a 2,000-character page
and 42 s for a 20,000-character one on the busy 2-core machine, in the render worker (a page) or
the app's own process (a Word/HTML/Markdown section, holding the GIL). A visitor controls both:
the document they upload and the `marks` their browser sends. Bounds are checked in wall time with
a wide margin (fixed: well under a second; broken: tens of seconds)."""

from __future__ import annotations

import time

from rag.viewer.passages import find_span, marked_spans

HOSTILE_PASSAGE = "a" * 3999 + "b"  # not on the page exactly, so the loose search runs


def elapsed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def test_a_repeated_letter_page_is_searched_in_bounded_time():
    page = "a" * 20_000
    assert elapsed(lambda: find_span(page, HOSTILE_PASSAGE)) < 5.0


def test_every_mark_of_one_request_shares_one_bound():
    page = "a" * 480  # 1.9 M pairs a passage (~1.5 s): each within the bound alone, 13 M together
    marks = [HOSTILE_PASSAGE[i:] + "b" * i for i in range(6)]
    assert elapsed(lambda: marked_spans(page, marks, chunk=HOSTILE_PASSAGE)) < 5.0


def test_an_ordinary_page_is_still_searched_loosely():
    page = "The grey heron builds its nest high in tall trees, usually in colonies near water. " * 40
    passage = "The grey heron bui1ds its nest high in ta11 trees, usually in co1onies near water."
    start, end = find_span(page, passage)
    assert page[start:end].startswith("The grey heron") and page[:end].endswith("water.")


def test_a_section_request_shares_one_bound_over_every_section(assistant, tmp_path):
    """A section that matches no page makes the viewer look through all of them, in the app's
    process: the bound is one view's, not one section's."""
    from rag.ingest.chunking import document_id
    from rag.ingest.pipeline import SourceFile
    from rag.viewer.views import SectionView, ViewRequest

    path = tmp_path / "letters.md"
    path.write_text("".join(f"# Part {i}\n\n{'a' * 480}\n\n" for i in range(8)))
    [result] = assistant.upload([SourceFile("letters.md", path)], "anon:a")
    assert result.status == "added", result
    marks = tuple(HOSTILE_PASSAGE[i:] + "b" * i for i in range(6))
    wanted = ViewRequest(document_id("anon:a", "letters.md"), 0, "no such part", marks, HOSTILE_PASSAGE)
    view = None

    def show() -> None:
        nonlocal view
        view = assistant.view_source("anon:a", wanted)

    assert elapsed(show) < 5.0
    assert isinstance(view, SectionView) and view.spans == []


def test_folding_a_page_of_long_ligatures_takes_bounded_memory():
    """NFKC spells U+FDFA (one Arabic ligature) as 18 characters, and each folded character was a
    string object of its own with an int index beside it: ~1.5 kB a page character, so a 500,000-
    character section (an upload well within RAG_MAX_DOCUMENT_CHARS) took ~750 MB of the app's
    memory per view. Now one shared string per distinct character and the indices in an array."""
    import tracemalloc

    from rag.viewer.passages import fold

    page = "\ufdfa\u337f" * 50_000  # 100,000 characters; U+337F is 4 CJK characters under NFKC
    tracemalloc.start()
    try:
        folded, where = fold(page)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(where) == len(folded)
    assert peak < 64 * len(page), f"{peak / len(page):.0f} bytes a page character"

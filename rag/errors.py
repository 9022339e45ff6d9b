"""Typed errors a user can act on: each carries the thing it concerns (file, model, URL, store)."""

from __future__ import annotations


class RagError(Exception):
    """Base of every error the library raises on purpose."""


class LoadError(RagError):
    """A file could not be turned into a document; `source` names it, the message says why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class OcrUnavailableError(RagError):
    """Tesseract is not installed or lacks a language; the message says how to turn OCR on."""


class StoreError(RagError):
    """The vector store refused an operation or does not match the configuration."""


class EmbeddingError(RagError):
    """The embedding model could not be loaded."""


class EngineError(RagError):
    """The LLM engine or server could not be started, reached or used. The message is for the
    operator (CLI, log); `public` is what a visitor may see: no paths, URLs or exception text."""

    def __init__(self, message: str, public: str = "") -> None:
        super().__init__(message)
        self.public = public or message


class PromptTooLongError(RagError):
    """The question alone does not fit the model's context window."""


class LimitError(RagError):
    """A request is over one of the configured limits; the message names the setting."""


class EvaluationError(RagError):
    """A turn of an evaluation could not be asked (the chat path reported an error): the run stops
    rather than score a failure as a miss."""

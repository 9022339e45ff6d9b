"""A small retrieval-augmented generation library: load → chunk → embed → store → prompt → generate.

Importing it sets the process defaults every entry point needs (CLI, web app, tests): no Gradio
analytics or Hugging Face telemetry calls (nothing leaves the machine at start-up), and no
tokenizers thread pool fighting torch for the cores. Explicit environment values win. It also makes
the multiprocessing children of this process (vLLM's engine core) end when it dies
(`rag.lifecycle`), and works around an interpreter bug that broke test reports (`rag.compat`).
"""

import os

from rag.compat import apply as apply_interpreter_fixes
from rag.lifecycle import install_child_guard

ENVIRONMENT_DEFAULTS = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def set_environment_defaults() -> None:
    for name, value in ENVIRONMENT_DEFAULTS.items():
        os.environ.setdefault(name, value)


set_environment_defaults()
install_child_guard()
apply_interpreter_fixes()  # CPython 3.11.7's AST constructor bug (rag/compat.py)

"""A small retrieval-augmented generation library: load → chunk → embed → store → prompt → generate.

Importing it sets the process defaults every entry point needs (CLI, web app, tests): no Gradio
analytics or Hugging Face telemetry calls (nothing leaves the machine at start-up), and no
tokenizers thread pool fighting torch for the cores. Explicit environment values win.
"""

import os

ENVIRONMENT_DEFAULTS = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def set_environment_defaults() -> None:
    for name, value in ENVIRONMENT_DEFAULTS.items():
        os.environ.setdefault(name, value)


set_environment_defaults()

"""Entry point: `python app.py` (also what a Hugging Face Space runs). Builds the web app from
`RAG_*` settings and serves it; see README.md for the settings."""

import logging

import rag  # noqa: F401  (also in vLLM's spawned engine process, which re-imports this file: it ends with the app)

if __name__ == "__main__":
    from rag.settings import Settings
    from rag.web.layout import launch

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    launch(Settings.from_env())

"""Entry point (`python app.py`). Until the web app lands it loads the sample library and answers
searches typed on the terminal."""

import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from rag.cli import main

if __name__ == "__main__":
    main(["ingest", "assets/sample"])
    for line in sys.stdin:
        if line.strip():
            main(["search", line.strip()])

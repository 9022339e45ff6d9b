"""`python -m rag …` (the engine needs this guard: vLLM starts worker processes with spawn)."""

import sys

from rag.cli import main

if __name__ == "__main__":
    sys.exit(main())

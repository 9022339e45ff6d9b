"""Serve a Milvus Lite database over gRPC so several processes can share one store.

    .venv/bin/python scripts/milvus_lite_server.py --db data/shared.db --host 127.0.0.1 --port 19530

An embedded Milvus Lite file can be opened by one process only; this runs the same engine
(milvus-lite 2.5) as a server. Point every app or CLI process at it with
`RAG_MILVUS_URI=http://127.0.0.1:19530`. For production use Milvus standalone or a cluster
(docker-compose.yml). It binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True, help="database file (short ASCII name, e.g. data/shared.db)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=19530)
    args = parser.parse_args()

    from milvus_lite.server import Server

    db = Path(args.db).resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    server = Server(str(db), f"{args.host}:{args.port}")
    if not server.init() or not server.start():
        print(f"error: could not start Milvus Lite on {db} (is another process using it?)", file=sys.stderr)
        return 1
    print(f"Milvus Lite serving {db} on http://{args.host}:{args.port}", flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        while not stopping and server._p.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

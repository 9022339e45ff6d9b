"""A minimal OpenAI-compatible server (models + streamed chat completions) for the engine-failure
test: started as its own process so that the test can `kill -9` it like a crashed vLLM server.

    python tests/reliability/openai_standin.py PORT
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "standin-model"
WORDS = ["The", "stand-in", "server", "answers", "from", "the", "passages", "[1]."]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]})
        else:
            self._json({"error": "not found"}, 404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        json.loads(self.rfile.read(length) or b"{}")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for i, word in enumerate(WORDS):
            self._event({"choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]})
            time.sleep(0.02)
            if i == len(WORDS) - 1:
                self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        usage = {"prompt_tokens": 100, "completion_tokens": len(WORDS), "total_tokens": 100 + len(WORDS)}
        self._event({"choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def _event(self, body: dict) -> None:
        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": int(time.time()), "model": MODEL}
        self.wfile.write(b"data: " + json.dumps(chunk | body).encode() + b"\n\n")
        self.wfile.flush()

    def _json(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()

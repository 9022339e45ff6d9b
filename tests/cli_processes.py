"""The CLI (and short scripts over `rag`) in processes of their own, without paying the imports each time.

`python -m rag` spends ~5 s of every start importing torch, sentence-transformers and pymilvus
before it does anything; the CLI, crash and scale-out tests start about 30 such processes. Here a
server process (multiprocessing's forkserver) imports those modules once, and every command runs in
a fresh process forked from it: its own environment, arguments, working folder, standard output
and error, exit status and `atexit` handlers (which stop its Milvus Lite server), killable with
SIGKILL like any process. Only the interpreter's start and the imports are shared, and
`tests/test_cli.py` still runs `python -m rag` itself for the entry point.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRELOAD = ["rag.cli", "rag.assistant", "rag.evaluate", "sentence_transformers"]
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOAD)


class ForkedProcess:
    """One running process; `wait` gives what `subprocess.run` would."""

    def __init__(self, code: str, argv: Sequence[str], env: dict[str, str], cli: bool) -> None:
        self.args = list(argv)
        self._folder = tempfile.TemporaryDirectory(prefix="rag-process-")
        self.stdout_path = Path(self._folder.name) / "stdout"
        self.stderr_path = Path(self._folder.name) / "stderr"
        streams = (str(self.stdout_path), str(self.stderr_path))
        self.process = _context.Process(
            target=_become, args=(code, self.args, cli, dict(env), str(ROOT), streams)
        )
        self.process.start()

    def stderr_so_far(self) -> str:
        return _read(self.stderr_path)

    def wait_for_stderr(self, text: str, timeout: float = 300) -> bool:
        """Until `text` appears on standard error (True) or the process ends first (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.stderr_so_far():
                return True
            if not self.process.is_alive():
                return text in self.stderr_so_far()
            time.sleep(0.02)
        raise TimeoutError(f"{self.args}: no {text!r} on stderr within {timeout} s")

    def kill(self) -> None:
        self.process.kill()

    def wait(self, timeout: float = 600) -> subprocess.CompletedProcess:
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
            raise subprocess.TimeoutExpired(self.args, timeout)
        try:
            return subprocess.CompletedProcess(
                self.args, self.process.exitcode, _read(self.stdout_path), _read(self.stderr_path)
            )
        finally:
            self._folder.cleanup()


def start_rag(args: Sequence[str], env: dict[str, str]) -> ForkedProcess:
    """`python -m rag ARGS` with `env` as its whole environment."""
    return ForkedProcess("", args, env, cli=True)


def run_rag(args: Sequence[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return start_rag(args, env).wait(timeout)


def start_python(code: str, argv: Sequence[str], env: dict[str, str]) -> ForkedProcess:
    """`python -c CODE ARGV…` with `env` as its whole environment."""
    return ForkedProcess(code, argv, env, cli=False)


def run_python(
    code: str, argv: Sequence[str], env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess:
    return start_python(code, argv, env).wait(timeout)


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _become(
    code: str, argv: list[str], cli: bool, env: dict[str, str], cwd: str, streams: tuple[str, str]
) -> None:
    """In the forked process: become the process `python -m rag` (or `python -c`) would have been,
    then exit as it would, atexit handlers included (forkserver children otherwise skip them)."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in zip((1, 2), streams, strict=True):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 - fd 1 outlives it
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False, buffering=1)  # noqa: SIM115
    sys.argv = ["python -m rag" if cli else "-c", *argv]
    status: object = 0
    try:
        if code:
            exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
        if cli:
            from rag.cli import main

            status = main(argv)
    except SystemExit as exc:
        status = exc.code
    except BaseException:
        traceback.print_exc()
        status = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        atexit._run_exitfuncs()
    sys.exit(status)

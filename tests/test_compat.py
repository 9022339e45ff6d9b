"""The interpreter work-around (rag/compat.py) and what it is for: a failing test is always reported
by name, also under pytest-xdist, also when a finalizer parses source while pytest formats it."""

from __future__ import annotations

import ast
import gc
import subprocess
import sys
from pathlib import Path

import pytest

from rag.compat import has_ast_reentrancy_bug, make_ast_parse_atomic

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path(ast.__file__).read_text()
# A test module whose failure is formatted while a gc callback parses source: the same nesting as an
# unclosed client's __del__ logging a traceback (how CI's worker died).
FAILING_MODULE = """
import ast, gc

def parse_during_collection(phase, info):
    if phase == "start":
        ast.parse("a = [1, 2, (3 + 4) * 5]")

gc.callbacks.append(parse_during_collection)
gc.set_threshold(5)  # collect very often, so one runs inside pytest's own parse of this file

def test_passes():
    assert True

def test_fails_on_purpose():
    values = [{"n": i, "text": str(i) * 20} for i in range(2000)]
    assert values[0]["n"] == 1, "deliberate failure"
"""


def parse_errors(runs: int = 20) -> int:
    def parse_during_collection(phase, info):
        if phase == "start":
            ast.parse("a = [1, 2, (3 + 4) * 5]")

    gc.callbacks.append(parse_during_collection)
    try:
        errors = 0
        for _ in range(runs):
            try:
                ast.parse(SOURCE)
            except SystemError:
                errors += 1
        return errors
    finally:
        gc.callbacks.remove(parse_during_collection)


def test_the_bug_is_known_by_version():
    assert has_ast_reentrancy_bug((3, 11, 7)) and has_ast_reentrancy_bug((3, 12, 1))
    assert not has_ast_reentrancy_bug((3, 11, 8)) and not has_ast_reentrancy_bug((3, 12, 2))
    assert not has_ast_reentrancy_bug((3, 13, 0))


def test_atomic_parse_survives_a_parse_inside_a_collection():
    make_ast_parse_atomic()  # importing rag applied it already where the bug exists; once is enough
    assert parse_errors() == 0
    assert gc.isenabled()  # the collector is back on after each parse


def run_pytest(tmp_path: Path, conftest: str) -> tuple[int, str, str]:
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_deliberate.py").write_text(FAILING_MODULE)
    command = [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider", str(tmp_path)]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout, result.stderr


def test_a_deliberate_failure_is_listed_by_name_under_two_workers(tmp_path):
    returncode, stdout, stderr = run_pytest(
        tmp_path, "import rag  # noqa: F401  (as tests/conftest.py does)\n"
    )
    output = stdout + stderr
    assert "INTERNALERROR" not in output, output[-3000:]
    assert "FAILED test_deliberate.py::test_fails_on_purpose" in output, output[-3000:]
    assert "1 failed, 1 passed" in output and returncode == 1, output[-3000:]


@pytest.mark.skipif(not has_ast_reentrancy_bug(), reason="this interpreter has the fix (3.11.8+, 3.12.2+)")
def test_without_the_work_around_the_worker_dies(tmp_path):
    """The test above can fail: without `import rag` the same run loses its report (a collection
    must land inside pytest's own parse: it did in every run seen; up to 3 runs are given)."""
    for _ in range(3):
        output = "\n".join(run_pytest(tmp_path, "")[1:])
        if "AST constructor recursion depth mismatch" in output:
            break
    assert "AST constructor recursion depth mismatch" in output
    assert "FAILED test_deliberate.py::test_fails_on_purpose" not in output

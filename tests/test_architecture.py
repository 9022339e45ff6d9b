"""The shape of `rag/`: no import cycles, no process-wide engine or embedder, and each outside
library known by the one module (or package) that adapts it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rag"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module this file imports, at the top or inside functions (lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: {m for m in imports(path) if m in MODULES} for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_rag_has_no_import_cycle():
    assert len(GRAPH) > 20
    assert find_cycle(GRAPH) is None


def test_no_module_level_engine_or_embedder_instances():
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        assert not any(isinstance(node, ast.Global) for node in ast.walk(tree)), f"{name} rebinds a global"
        for node in tree.body:  # module-level assignments that build something heavy
            if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
                called = ast.unparse(node.value.func)
                assert not any(kind in called for kind in ("LLM", "Embedder", "Backend")), f"{name}: {called}"


def test_each_outside_library_has_one_home():
    homes = {
        "pymilvus": {"rag.store", "rag.store_schema"},
        "vllm": {"rag.backends.vllm_inproc"},
        "openai": {"rag.backends.openai_compat"},
        "gradio": {"rag.ui", "rag.webapp"},
        "sentence_transformers": {"rag.embeddings"},
    }
    for library, allowed in homes.items():
        users = {n for n, p in MODULES.items() if any(m.split(".")[0] == library for m in imports(p))}
        assert users <= allowed, f"{library} is imported by {users - allowed}"

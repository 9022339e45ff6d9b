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
        "pymilvus": "rag.store.",
        "vllm": "rag.generation.backends.",
        "openai": "rag.generation.backends.",
        "gradio": "rag.web.",
        "sentence_transformers": "rag.embedding.",
        "onnxruntime": "rag.embedding.",
    }
    for library, home in homes.items():
        users = {n for n, p in MODULES.items() if any(m.split(".")[0] == library for m in imports(p))}
        assert users, f"nothing imports {library}: is the rule stale?"
        outside = {user for user in users if not (user + ".").startswith(home)}  # the package itself counts
        assert not outside, f"{library} is imported outside {home}: {outside}"


# The modules at the top of `rag/` that every stage may use: plain data, settings, errors, process
# and file policy. Everything else lives in one folder per stage.
BASE = {"rag", "rag.settings", "rag.types", "rag.errors", "rag.compat", "rag.lifecycle", "rag.private_files"}

# Which stages (folders under rag/, or the composing modules at its top) each may import. A stage
# reaches down the pipeline, never up: retrieval doesn't know how documents arrive, generation
# doesn't know where hits come from, nothing below the web knows there is a web.
STAGE_IMPORTS = {
    "text": set(),
    "embedding": set(),
    "store": set(),
    "ingest": {"embedding", "store", "text"},
    "retrieval": {"embedding", "store", "text"},
    "generation": {"text"},
    "review": {"text"},
    "workspace": {"store", "review"},
    "answer": {"retrieval", "generation", "review", "text"},
    "documents": {"answer", "ingest", "retrieval", "workspace", "store", "text"},  # store: the originals
    "viewer": {"ingest", "store", "text"},
    "assistant": {
        "viewer",
        "answer",
        "documents",
        "embedding",
        "generation",
        "ingest",
        "retrieval",
        "review",
        "workspace",
        "text",
    },
    "evaluate": {"assistant", "answer", "generation", "retrieval", "review", "workspace", "text"},
    "web": {"assistant", "ingest", "review", "workspace", "text", "viewer"},
    "cli": {"assistant", "evaluate", "ingest", "store", "review", "workspace", "text"},
    "__main__": {"cli"},
}


def stage_of(module: str) -> str:
    """`rag.store.schema` → "store"; `rag.assistant` → "assistant"; the base modules → "base"."""
    return "base" if module in BASE else module.split(".")[1]


def stage_violations(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{name} imports {dep}"
        for name, deps in sorted(graph.items())
        for dep in sorted(deps)
        if stage_of(dep) not in {"base", stage_of(name), *STAGE_IMPORTS.get(stage_of(name), set())}
    ]


def test_every_module_is_in_a_known_stage():
    assert {stage_of(name) for name in MODULES} <= {"base", *STAGE_IMPORTS}


def test_the_stage_rule_finds_an_upward_import():
    assert stage_violations({"rag.store.schema": {"rag.web.layout"}}) == [
        "rag.store.schema imports rag.web.layout"
    ]
    assert stage_violations({"rag.store.schema": {"rag.store.index_plans", "rag.types"}}) == []


def test_stages_import_only_the_stages_below_them():
    assert stage_violations(GRAPH) == []


def test_base_modules_import_no_stage():
    for name in BASE & set(MODULES):
        if name != "rag":
            assert GRAPH[name] <= BASE, f"{name} imports {GRAPH[name] - BASE}"

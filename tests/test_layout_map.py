"""README's "How the code is laid out" names every folder of `rag/` and exactly the modules in it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def layout_table(readme: str) -> dict[str, set[str]]:
    """folder → the module names in its row (backticked words, `backends/` rows as `backends/base`)."""
    section = readme.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for folder, _, modules in re.findall(r"^\| `(rag/[\w/]*)` \| ([^|]*) \| ([^|]*) \|$", section, re.M):
        names: set[str] = set()
        prefix = ""
        for part in re.split(r"(`\w+/`:)", modules):
            if re.fullmatch(r"`\w+/`:", part):
                prefix = part.strip("`:")
                continue
            names |= {prefix + name for name in re.findall(r"`(\w+)`", part) if name != "Settings"}
        names -= {"Document", "VectorStore", "retrieve"}
        table[folder] = names
    return table


def modules_on_disk() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / "rag").rglob("*.py"):
        if path.name in {"__init__.py", "__main__.py"}:
            continue
        rel = path.relative_to(ROOT / "rag")
        folder = "rag/" + (rel.parts[0] + "/" if len(rel.parts) > 1 else "")
        found.setdefault(folder, set()).add("/".join(rel.with_suffix("").parts[1:]) or rel.stem)
    return found


def test_the_map_names_every_folder_and_module():
    assert layout_table((ROOT / "README.md").read_text()) == modules_on_disk()


def test_the_map_check_notices_a_missing_module():
    readme = (ROOT / "README.md").read_text().replace("`sections` (Markdown/HTML headings), ", "")
    assert layout_table(readme)["rag/ingest/"] != modules_on_disk()["rag/ingest/"]

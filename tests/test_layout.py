"""The library's layering: no import circle between its parts, and the stage modules' shape."""

import ast
import importlib
from collections import defaultdict

from conftest import REPO


def import_graph() -> dict[str, set[str]]:
    """Part of autoact (a subpackage or top module) -> the parts it imports, at any depth."""
    def part(module: str) -> str:
        pieces = module.split(".")
        return pieces[1] if len(pieces) > 1 else pieces[0]
    edges: dict[str, set[str]] = defaultdict(set)
    for path in (REPO / "autoact").rglob("*.py"):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autoact"):
                targets = [a.name for a in node.names] if node.module == "autoact" else [part(node.module)]
            elif isinstance(node, ast.Import):
                targets = [part(a.name) for a in node.names if a.name.startswith("autoact.")]
            else:
                continue
            edges[part(name)].update(t for t in targets if t != part(name))
    return edges


def test_no_import_circle_between_the_librarys_parts():
    edges = import_graph()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False
    circles = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if reaches(b, a)})
    assert circles == []
    # the lower floors never reach up to the stages, the scripts' front ends or the pipeline
    for low in ("io", "settings", "llm", "tools", "tasks", "prompting", "agents"):
        assert not edges[low] & {"stages", "commands", "pipeline", "cli", "testing"}, low


def test_every_stage_is_a_module_with_settings_and_run():
    from dataclasses import is_dataclass

    from autoact.pipeline import FRONT_ENDS
    for stage in (*FRONT_ENDS, "train"):
        module = importlib.import_module(f"autoact.stages.{FRONT_ENDS.get(stage, ('', 'training'))[1]}")
        assert is_dataclass(module.Settings) and callable(module.run), stage

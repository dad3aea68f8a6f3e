"""The package's import graph: no cycles (lazy imports included), families below the face."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gradfree

ROOT = Path(gradfree.__file__).parent
FACE = {"gradfree", "gradfree._minimize", "gradfree._optimizer", "gradfree.cli", "gradfree._job"}
FACE |= {"gradfree._jobfile"}
FAMILIES = ("gradfree.es", "gradfree.kalman", "gradfree.tensor", "gradfree.altmin")
FAMILIES += ("gradfree.local",)


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if package else parts)] = (path, package)
    return mods


def _graph() -> dict[str, set[str]]:
    """Every import statement, wherever it stands (functions too), as module -> modules."""
    mods = _modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for name, (path, package) in mods.items():
        here = name.split(".") if package else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                root = ".".join(base + ([node.module] if node.module else []))
                targets = [f"{root}.{a.name}" for a in node.names] + [root]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                while target and target not in mods and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in mods and target != name:
                    edges[name].add(target)
    # Importing gradfree.kalman._eki from outside gradfree.kalman first runs
    # gradfree.kalman's __init__ (the top package's is running already): an edge too.
    for importer, targets in edges.items():
        for target in list(targets):
            parent = target.rsplit(".", 1)[0]
            if parent in mods and parent != "gradfree" and not importer.startswith(parent):
                targets.add(parent)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert _cycles(_graph()) == []


@pytest.mark.parametrize("family", FAMILIES)
def test_families_import_neither_the_face_nor_each_other(family):
    edges = _graph()
    for module, targets in edges.items():
        if not module.startswith(family + "."):  # a family's __init__ is its public face
            continue
        assert not targets & FACE, (module, targets & FACE)
        others = {
            t
            for t in targets
            for f in FAMILIES
            if f != family and (t == f or t.startswith(f + "."))
        }
        assert not others, (module, others)


def test_wrappers_need_only_the_strategy_protocol():
    """The generic wrappers work on any strategy: no family, no face, no run layer."""
    edges = _graph()
    run_layer = {"gradfree._driver", "gradfree._runloop", "gradfree._run", "gradfree._registry"}
    for module, targets in edges.items():
        if module.split(".")[:2] != ["gradfree", "wrappers"]:
            continue
        bad = {
            t for t in targets if t in FACE | run_layer or ".".join(t.split(".")[:2]) in FAMILIES
        }
        assert not bad, (module, bad)

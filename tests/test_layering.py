"""The package's layers: imports run down the ranks only, and no module imports itself back.

Every module under ``src/bayes_bmi`` is parsed with :mod:`ast`; every import (module level,
inside functions, under ``if TYPE_CHECKING:``; absolute and relative) is mapped to the
package it lands in. A module may import its own package or a package of lower rank; packages
of equal rank must not import each other; and no chain of imports between modules may lead
back to where it started. ``bayes_bmi/__init__.py`` is exempt as an importer: it is the lazy
facade over the public API.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT

#: Low -> high. A package may import only itself or packages of a lower rank.
RANKS: Mapping[str, float] = {
    "errors": 0,
    "io": 0,
    "data": 1,
    "datasets": 1,
    "provenance": 1,
    "lavaan": 2,
    "ml": 3,
    "simulate": 3,
    "bayes": 4,
    "checking": 5,
    "calibration": 5.5,  # above checking (its hypothesis verdicts), below study
    "measurement": 5,
    "study": 6,
    "plots": 7,
    "report": 8,
    "api": 9,
    "cli": 10,
    "__main__": 11,
}


@dataclass(frozen=True)
class Edge:
    """One import: ``source`` module imports ``target`` module at ``line``."""

    source: str
    target: str
    line: int


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted name -> file of every module of ``package`` found under ``root``."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """Absolute name of the module an ``ImportFrom`` reads from."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop] if drop else base
    return ".".join([*base, node.module] if node.module else base)


def imports(root: Path, package: str) -> list[Edge]:
    """Every import of a module of ``package`` by a module of ``package``."""
    mods = module_names(root, package)
    edges = []
    for name, path in mods.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):  # every level: module, function, TYPE_CHECKING blocks
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node, name, is_package)
                # `from pkg.sub import mod` imports the module pkg.sub.mod when it exists
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names
                ]
            else:
                continue
            for target in targets:
                if target == package or target.startswith(package + "."):
                    edges.append(Edge(name, target, node.lineno))
    return list(dict.fromkeys(edges))  # `from m import a, b` is one import of m


def layer(module: str, package: str) -> str | None:
    """The layer (first component below the top package) of a module; None for the top."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == package else None


def layering_problems(
    root: Path, package: str, ranks: Mapping[str, int], exempt: tuple[str, ...] = ()
) -> list[str]:
    """Upward imports, imports between equal ranks, unknown layers and import cycles.

    Parameters
    ----------
    root : Path
        Folder that holds the package.
    package : str
        Top-level package name.
    ranks : mapping
        Layer -> rank (low -> high).
    exempt : tuple of str
        Modules whose own imports are not checked (the top-level facade).

    Returns
    -------
    list of str
        One message per problem; empty when the layering holds.
    """
    problems = []
    edges = [e for e in imports(root, package) if e.source not in exempt]
    for e in edges:
        src, dst = layer(e.source, package), layer(e.target, package)
        if dst is None:
            problems.append(
                f"{e.source} (line {e.line}) imports the top-level package {package}: import "
                "the module that defines the name instead"
            )
            continue
        unknown = [x for x in (src, dst) if x not in ranks]
        if unknown:
            problems.append(
                f"{e.source} (line {e.line}) -> {e.target}: layer {unknown[0]!r} has no rank; "
                "add it to RANKS"
            )
            continue
        if src == dst:
            continue
        if ranks[dst] > ranks[src]:
            problems.append(
                f"upward import: {e.source} (line {e.line}, {src}, rank {ranks[src]}) imports "
                f"{e.target} ({dst}, rank {ranks[dst]})"
            )
        elif ranks[dst] == ranks[src]:
            problems.append(
                f"import between packages of equal rank {ranks[src]}: {e.source} "
                f"(line {e.line}) imports {e.target}"
            )
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(edges)]
    return problems


def cycles(edges: list[Edge]) -> list[list[str]]:
    """One cycle (as a closed path of modules) per strongly connected group of modules."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        if e.source != e.target:
            graph.setdefault(e.source, set()).add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm; the graph is small, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_closed_path(g, graph) for g in groups]


def _closed_path(group: list[str], graph: Mapping[str, set[str]]) -> list[str]:
    """A path inside a strongly connected group from its first module back to it."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:  # breadth-first: the shortest way back to the start
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, ())):
                if w == start:
                    return [*paths[v], start]
                if w in members and w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    return [*group, start]  # pragma: no cover - a strongly connected group always closes


# ------------------------------------------------------------------------------ the tests
def test_bayes_bmi_obeys_its_layers():
    src = ROOT / "src"
    assert set(module_names(src, "bayes_bmi")) > {"bayes_bmi.io", "bayes_bmi.study.pipeline"}
    problems = layering_problems(src, "bayes_bmi", RANKS, exempt=("bayes_bmi",))
    assert not problems, "layering broken:\n" + "\n".join(problems)


#: Layers below the study: the engine, which must know nothing of the thesis's subject.
ENGINE = (
    "errors",
    "io",
    "data",
    "lavaan",
    "ml",
    "simulate",
    "bayes",
    "checking",
    "calibration",
    "measurement",
)
#: Words of the thesis's subject (business model innovation, its drivers and levers).
BUSINESS = re.compile(
    r"\bBMI\b|(?i:business[- ]models?|\bfirms?\b|\bdrivers?\b|\blevers?\b|\bthesis\b|"
    r"heilongjiang|\bSMEs?\b)"
)


def test_the_engine_names_no_business_concept():
    found = []
    for layer_name in ENGINE:
        base = ROOT / "src/bayes_bmi" / layer_name
        files = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
        for path in files:
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if m := BUSINESS.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{i}: {m.group(0)!r} in {line.strip()}")
    assert not found, "business concepts belong in study/:\n" + "\n".join(found)


def test_the_business_pattern_matches_what_it_should():
    hits = ["BMI ~ TI", "a business-model element", "Business model", "firms", "the driver"]
    misses = ["bayes-bmi", "bayes_bmi.lavaan", "subMI", "driverless"]
    assert all(BUSINESS.search(t) for t in hits)
    assert not any(BUSINESS.search(t) for t in misses)


def test_every_layer_has_a_rank():
    layers = {p.name.removesuffix(".py") for p in (ROOT / "src/bayes_bmi").iterdir()}
    layers -= {"__init__", "__pycache__", "py.typed"}
    assert layers <= set(RANKS), sorted(layers - set(RANKS))


def _write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def fake(tmp_path):
    """A tiny package ``pkg`` with layers low (0), mid (1), mid2 (1) and high (2)."""
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.high import top\n",
            "pkg/low/__init__.py": "",
            "pkg/low/a.py": "import os\nfrom pkg.low import b\n",
            "pkg/low/b.py": "X = 1\n",
            "pkg/mid/__init__.py": "",
            "pkg/mid/m.py": "from ..low.a import os\n",
            "pkg/mid2/__init__.py": "",
            "pkg/mid2/n.py": "from . import o\n",
            "pkg/mid2/o.py": "",
            "pkg/high/__init__.py": "",
            "pkg/high/top.py": "import pkg.mid.m\nfrom pkg.low import a as _a\n",
        },
    )
    return tmp_path, {"low": 0, "mid": 1, "mid2": 1, "high": 2}


def test_checker_passes_a_clean_package(fake):
    root, ranks = fake
    edges = imports(root, "pkg")
    assert Edge("pkg.mid.m", "pkg.low.a", 1) in edges  # relative, resolved
    assert Edge("pkg.low.a", "pkg.low.b", 2) in edges  # `from package import module`
    assert Edge("pkg.mid2.n", "pkg.mid2.o", 1) in edges
    assert layering_problems(root, "pkg", ranks, exempt=("pkg",)) == []


def test_checker_finds_upward_imports_inside_functions_and_type_checking(fake):
    root, ranks = fake
    _write(
        root,
        {
            "pkg/low/b.py": "def f():\n    from pkg.high.top import x\n",
            "pkg/mid/m.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..mid2 import n\n"
            ),
        },
    )
    problems = layering_problems(root, "pkg", ranks, exempt=("pkg",))
    assert any(p.startswith("upward import: pkg.low.b (line 2, low, rank 0)") for p in problems)
    assert any("equal rank 1: pkg.mid.m (line 3) imports pkg.mid2.n" in p for p in problems)


def test_checker_finds_a_cycle(fake):
    root, ranks = fake
    _write(root, {"pkg/low/b.py": "import pkg.low.a\n"})
    problems = layering_problems(root, "pkg", ranks, exempt=("pkg",))
    assert problems == ["import cycle: pkg.low.a -> pkg.low.b -> pkg.low.a"]


def test_checker_finds_unknown_layers_and_imports_of_the_facade(fake):
    root, ranks = fake
    _write(root, {"pkg/extra/__init__.py": "", "pkg/mid/m.py": "import pkg\nimport pkg.extra\n"})
    problems = layering_problems(root, "pkg", ranks, exempt=("pkg",))
    assert any("imports the top-level package pkg" in p for p in problems)
    assert any("layer 'extra' has no rank" in p for p in problems)

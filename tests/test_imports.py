"""Imports run one way: no module of models/ or pipeline/ reaches, however indirectly, back to
itself. Every import counts, the ones inside functions and methods included: a function-level
import hides a cycle from Python's start-up, not from the design (the two layers still need each
other, and which one loads first decides whether the program starts). `if TYPE_CHECKING:` imports
count too: a module whose signatures name another's types is built on it, whether or not the
import runs. The source is read with `ast`, nothing is imported, so a cycle is found before it
bites.

Importing a submodule from outside its package runs the package's __init__.py first, so that is
an edge too: pipeline.studies.published importing pipeline.studies.base imports every study through
pipeline/studies/__init__.py, and a study importing pipeline.studies.published closes a circle that a
graph of modules alone would not show."""
from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # not tests.checkout's: that one imports pipeline
PACKAGES = ("models", "pipeline")

Edge = tuple[str, str]


def modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module of `packages` under `root`, by dotted name: a package is its __init__.py."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_package(name: str, known: dict[str, Path]) -> bool:
    return known[name].name == "__init__.py"


def _targets(name: str, importer: str, known: dict[str, Path]) -> list[str]:
    """The modules of ours that importing `name` from `importer` runs: `name` (or the nearest
    module it is inside: `import models.base.x` where x is a name still loads models.base), and
    the packages above it that the importer is not already inside (importing pipeline.studies.base
    from pipeline.studies.published runs pipeline/studies/__init__.py first; from pipeline.studies.parzen
    it does not, that package is already loading)."""
    parts = name.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    if not parts:
        return []  # not ours: the standard library or a third-party package
    own = importer if _is_package(importer, known) else importer.rpartition(".")[0]
    targets = [".".join(parts)]
    for i in range(1, len(parts)):
        above = ".".join(parts[:i])
        if own != above and not own.startswith(above + "."):
            targets.append(above)
    return targets


def _base(importer: str, level: int, known: dict[str, Path]) -> str:
    """The package a relative import of `level` dots in `importer` starts from."""
    package = importer if _is_package(importer, known) else importer.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return package


def import_graph(root: Path, packages: Iterable[str] = PACKAGES) -> dict[Edge, list[str]]:
    """Every edge importer -> imported between modules of `packages`, each with the places
    (path:line) that import it. `from pkg import name` is an edge to the submodule pkg.name when
    there is one, to pkg's __init__ otherwise."""
    known = modules(root, packages)
    edges: dict[Edge, list[str]] = {}
    for importer, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(filter(None, (_base(importer, node.level, known), node.module)))
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                         for alias in node.names if alias.name != "*"] or [base]
            else:
                continue
            for name in names:
                for target in _targets(name, importer, known):
                    if target != importer:
                        edges.setdefault((importer, target), []).append(
                            f"{path.relative_to(root)}:{node.lineno}")
    return edges


def _graph(edges: Iterable[Edge]) -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {}
    for a, b in sorted(edges):
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    return graph


def tangles(edges: Iterable[Edge]) -> list[set[str]]:
    """The groups of modules that all reach one another through imports (Tarjan's strongly
    connected components, iteratively: no recursion limit to meet); [] when imports run one way."""
    graph = _graph(edges)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for start in graph:
        if start in index:
            continue
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        work = [(start, iter(graph[start]))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(group)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(groups, key=min)


def shortest_cycle(group: set[str], edges: Iterable[Edge]) -> list[str]:
    """The shortest way from the group's first module back to itself, its first module repeated
    at its end (breadth first, inside the group)."""
    graph = _graph(edges)
    first = min(group)
    paths = {first: [first]}
    frontier = [first]
    while not any(first in graph[n] for n in frontier):
        nxt = []
        for n in frontier:
            for c in graph[n]:
                if c in group and c not in paths:
                    paths[c] = paths[n] + [c]
                    nxt.append(c)
        frontier = nxt
    return paths[next(n for n in frontier if first in graph[n])] + [first]


def cycles(edges: Iterable[Edge]) -> list[list[str]]:
    """One cycle through each tangle."""
    edges = list(edges)
    return [shortest_cycle(group, edges) for group in tangles(edges)]


def describe(group: set[str], edges: dict[Edge, list[str]]) -> str:
    """A tangle for a reader who has to cut it: one cycle through it, then every import inside
    it with where it is (cutting the cycle shown may leave another through the same modules)."""
    inside = "\n".join(f"    {a} -> {b} at {', '.join(dict.fromkeys(at))}"
                        for (a, b), at in sorted(edges.items()) if a in group and b in group)
    return f"  {' -> '.join(shortest_cycle(group, edges))}\n{inside}"


def test_models_and_pipeline_import_one_way():
    edges = import_graph(ROOT)
    assert ("pipeline.cli", "pipeline.settings.config") in edges  # the reader sees the imports at all
    found = tangles(edges)
    assert not found, "import cycles:\n" + "\n".join(describe(group, edges) for group in found)


def layer_of(module: str, layers: tuple[str, ...]) -> int:
    """A module's place in the layering: models/ below every layer of pipeline/, pipeline's
    top-level modules (the CLI) above them all."""
    parts = module.split(".")
    if parts[0] == "models":
        return -1
    if len(parts) > 1 and parts[1] in layers:
        return layers.index(parts[1])
    return len(layers) if module != "pipeline" else -2  # pipeline/__init__.py only names the layers


def upward(edges: dict[Edge, list[str]], layers: tuple[str, ...]) -> list[str]:
    """Every import that reaches up the layering, with where it is."""
    return [f"{a} -> {b} at {', '.join(dict.fromkeys(at))}" for (a, b), at in sorted(edges.items())
            if layer_of(b, layers) > layer_of(a, layers)]


def test_each_layer_imports_only_the_layers_below_it():
    from pipeline import LAYERS

    edges = import_graph(ROOT)
    assert {p.name for p in (ROOT / "pipeline").iterdir() if (p / "__init__.py").exists()} == set(LAYERS)
    assert ("pipeline.orchestration.sweep", "pipeline.trial.store") in edges  # a downward edge is seen
    found = upward(edges, LAYERS)
    assert not found, "imports against the layering (pipeline/__init__.py):\n  " + "\n  ".join(found)


def test_an_import_up_the_layers_is_found():
    edges = {("pipeline.studies.theory", "pipeline.tracking.mlflow_api"): ["pipeline/studies/theory.py:21"],
             ("pipeline.tracking.study_log", "pipeline.studies.base"): ["pipeline/tracking/study_log.py:9"],
             ("models.pm", "pipeline.training.fit"): ["models/pm.py:3"],
             ("pipeline.cli", "pipeline.orchestration.sweep"): ["pipeline/cli.py:94"]}
    layers = ("studies", "tracking", "orchestration")
    assert upward(edges, layers) == ["models.pm -> pipeline.training.fit at models/pm.py:3",
                                     "pipeline.studies.theory -> pipeline.tracking.mlflow_api at pipeline/studies/theory.py:21"]


def test_a_function_level_import_cycle_is_found(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("import os\n\ndef f():\n    from .sub import helper\n")
    (pkg / "sub" / "__init__.py").write_text("from . import helper as h  # noqa\n")
    (pkg / "sub" / "helper.py").write_text("class A:\n    def g(self):\n        from ..low import f\n")
    (pkg / "top.py").write_text("from pkg import low\nfrom .sub.helper import A\n")
    edges = import_graph(tmp_path, ["pkg"])
    assert set(edges) == {("pkg.low", "pkg.sub"), ("pkg.low", "pkg.sub.helper"),
                          ("pkg.sub", "pkg.sub.helper"), ("pkg.sub.helper", "pkg.low"),
                          ("pkg.top", "pkg.low"), ("pkg.top", "pkg.sub.helper"), ("pkg.top", "pkg.sub")}
    assert cycles(edges) == [["pkg.low", "pkg.sub.helper", "pkg.low"]]  # the shortest way round
    assert "pkg.sub.helper -> pkg.low at pkg/sub/helper.py:3" in describe(tangles(edges)[0], edges)
    (pkg / "sub" / "helper.py").write_text("class A:\n    pass\n")
    assert cycles(import_graph(tmp_path, ["pkg"])) == []


def test_a_cycle_through_a_package_init_or_a_type_checking_import_is_found(tmp_path):
    """pkg.view needs only pkg.sub.base, but importing it runs pkg/sub/__init__.py, which
    imports pkg.sub.user, which needs pkg.view: the shape of published <-> studies."""
    sub = tmp_path / "pkg" / "sub"
    sub.mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "view.py").write_text("import pkg.sub.base\n")
    (sub / "__init__.py").write_text("from .base import Row\nfrom .user import User\n")
    (sub / "base.py").write_text("class Row:\n    pass\n")
    (sub / "user.py").write_text("from .base import Row\n\n\nclass User:\n    def verdict(self):\n"
                                 "        from .. import view as v\n")
    assert cycles(import_graph(tmp_path, ["pkg"])) == [["pkg.sub", "pkg.sub.user", "pkg.view", "pkg.sub"]]
    (sub / "user.py").write_text("class User:\n    pass\n")
    assert cycles(import_graph(tmp_path, ["pkg"])) == []
    (sub / "base.py").write_text("from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from ..view import X\n")
    assert cycles(import_graph(tmp_path, ["pkg"])) == [["pkg.sub", "pkg.sub.base", "pkg.view", "pkg.sub"]]

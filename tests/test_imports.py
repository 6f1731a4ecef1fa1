"""Imports point down the layers of docs/architecture.md, never up, and data/base.py and data/datasets
do not import each other.

Every module of ``src/genfer`` is parsed with ``ast``; every ``import``/``from`` statement counts,
at module level and inside functions (a function-level import is still a dependency, only a later
one). Registries load their plug-ins by module name (``Registry(plugins=...)``), which is not an
import statement and so is allowed to point anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "genfer"

LAYERS: dict[str, int] = {
    "core": 0,
    "data": 1,
    "metrics": 2,
    "judges": 2,
    "losses": 3,
    "models": 4,
    "engine": 5,
    "apps": 6,
    "cli": 7,
}
"""Rank of each sub-package of genfer; a module may import its own package or a lower rank."""
ROOT_RANK = 0
"""``genfer/__init__.py`` (the version string) sits with core."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_names(path: Path, name: str) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every genfer module or attribute imported anywhere in the file."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names]  # a submodule or an attribute
    return [(line, n) for line, n in out if n == "genfer" or n.startswith("genfer.")]


def resolve(target: str, modules: dict[str, Path]) -> str:
    """The longest prefix of ``target`` that is a genfer module (``genfer.a.b.attr`` -> ``genfer.a.b``)."""
    while target not in modules:
        target = target.rpartition(".")[0]
    return target


def rank(module: str) -> tuple[str, int]:
    parts = module.split(".")
    if len(parts) == 1:
        return "genfer", ROOT_RANK
    top = parts[1]
    assert top in LAYERS, f"{module}: genfer.{top} is in no layer; add it to LAYERS and docs/architecture.md"
    return top, LAYERS[top]


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {
        name: {resolve(t, modules) for _, t in imported_names(path, name)} - {name}
        for name, path in modules.items()
    }


def test_every_module_is_in_a_layer():
    for name in all_modules():
        rank(name)


def test_no_import_points_upward():
    modules = all_modules()
    upward = []
    for name, path in modules.items():
        pkg, r = rank(name)
        for line, target in imported_names(path, name):
            t = resolve(target, modules)
            t_pkg, t_r = rank(t)
            if t_pkg != pkg and t_r >= r and t_pkg != "genfer":
                upward.append(f"{path.relative_to(SRC)}:{line}: {name} ({pkg}) imports {t} ({t_pkg})")
    assert not upward, "imports that point upward or sideways:\n" + "\n".join(dict.fromkeys(upward))


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for t in graph.get(todo.pop(), ()):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


def test_data_base_and_datasets_do_not_import_each_other():
    graph = import_graph()
    datasets = {m for m in graph if m == "genfer.data.datasets" or m.startswith("genfer.data.datasets.")}
    from_base = reachable(graph, "genfer.data.base") & datasets
    to_base = {m for m in datasets if "genfer.data.base" in reachable(graph, m)}
    direct = sorted(graph["genfer.data.base"] & datasets) or sorted(from_base)[:3]
    assert not (from_base and to_base), (
        f"import cycle: genfer.data.base imports {direct} and {len(to_base)} modules of genfer.data.datasets "
        f"reach genfer.data.base (e.g. {sorted(to_base)[:3]})"
    )


def test_the_walker_sees_function_level_and_relative_imports(tmp_path):
    """The checks above are only as good as the walker: it must see imports inside functions and
    resolve relative ones."""
    src = "import os\nfrom . import sibling\n\ndef f():\n    from genfer.engine.trainer import Trainer\n"
    (tmp_path / "mod.py").write_text(src)
    names = [n for _, n in imported_names(tmp_path / "mod.py", "genfer.metrics.mod")]
    assert names == ["genfer.metrics.sibling", "genfer.engine.trainer.Trainer"]
    assert resolve("genfer.engine.trainer.Trainer", all_modules()) == "genfer.engine.trainer"


def test_the_documented_layers_are_the_tested_ones():
    """docs/architecture.md states the order as ``core  <  data  <  metrics, judges  <  ...``."""
    doc = (SRC.parent / "docs" / "architecture.md").read_text()
    line = next(ln for ln in doc.splitlines() if ln.startswith("core  <"))
    documented = {name.strip(): r for r, group in enumerate(line.split("<")) for name in group.split(",")}
    assert documented == LAYERS

"""The import direction of the project, read from every module's imports (function-level too).

Layers, lowest first: ``devices`` <- ``profilers``, ``predictors`` <- ``hwnas.errors`` /
``hwnas.core`` <- ``hwnas.methods`` <- ``hwnas.jobs``, ``hwnas.cli``, ``hwnas.__main__``. A
module never imports a module of a higher layer, nor a sibling package of its own layer
(``profilers`` and ``predictors`` do not know each other); no two modules import each other,
directly or through others; and no module outside ``hwnas/core/spaces/`` compares a value with
a space's name (``== "nb201"``): it asks the space instead.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("devices", "profilers", "predictors", "hwnas")
LAYERS: tuple[tuple[str, int], ...] = (
    ("devices", 0),
    ("profilers", 1),
    ("predictors", 1),
    ("hwnas", 2),
    ("hwnas.errors", 2),
    ("hwnas.core", 2),
    ("hwnas.data", 2),
    ("hwnas.methods", 3),
    ("hwnas.jobs", 4),
    ("hwnas.cli", 4),
    ("hwnas.__main__", 4),
)
"""Module-name prefixes and their layer; a module takes the layer of its longest prefix."""
SPACES_DIR = ("hwnas", "core", "spaces")
"""Where a space's name may be compared with: the space modules themselves."""


@dataclass(frozen=True)
class LayerReport:
    """What `check_layers` found; empty lists when the tree keeps the rules."""

    upward: list[str]
    cycles: list[list[str]]
    branches: list[str]

    def __bool__(self) -> bool:
        return bool(self.upward or self.cycles or self.branches)


def _modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _imports(name: str, path: Path) -> set[str]:
    """Every module name `path` imports, anywhere in the file (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def _layer(name: str, layers: tuple[tuple[str, int], ...]) -> tuple[str, int]:
    matches = [
        (prefix, rank) for prefix, rank in layers if name == prefix or name.startswith(prefix + ".")
    ]
    if not matches:
        raise AssertionError(f"module {name} is in no layer; add its package to LAYERS")
    return max(matches, key=lambda match: len(match[0]))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def check_layers(
    root: Path,
    packages: tuple[str, ...] = PACKAGES,
    layers: tuple[tuple[str, int], ...] = LAYERS,
    space_names: tuple[str, ...] = ("nb201", "fbnet", "darts", "lrnn"),
    spaces_dir: tuple[str, ...] = SPACES_DIR,
) -> LayerReport:
    """Reads every module of `packages` under `root` and reports what breaks the rules.

    Returns:
        Upward imports as ``"low.module -> high.module"`` (and imports between two packages
        of one layer), import cycles as sorted module lists, and space-name comparisons as
        ``"path:line: text"`` outside `spaces_dir`.
    """
    modules = _modules(root, packages)
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target in _imports(name, path):
            resolved = _resolve(target, modules)
            # a package's __init__ runs before its modules: not an edge from them
            if resolved and resolved != name and not name.startswith(resolved + "."):
                edges[name].add(resolved)
    upward = []
    for name, targets in edges.items():
        prefix, rank = _layer(name, layers)
        for target in sorted(targets):
            target_prefix, target_rank = _layer(target, layers)
            same_layer_other_package = (
                target_rank == rank and target_prefix.split(".")[0] != prefix.split(".")[0]
            )
            if target_rank > rank or same_layer_other_package:
                upward.append(f"{name} -> {target}")
    names = "|".join(map(re.escape, space_names))
    pattern = re.compile(rf"""[=!]=\s*["']({names})["']|["']({names})["']\s*[=!]=""")
    branches = []
    for path in modules.values():
        relative = path.relative_to(root)
        if relative.parts[: len(spaces_dir)] == spaces_dir:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                branches.append(f"{relative}:{number}: {line.strip()}")
    return LayerReport(sorted(upward), _cycles(edges), branches)


def test_the_project_keeps_its_layers():
    report = check_layers(ROOT)
    assert not report.upward, "imports into a higher layer:\n" + "\n".join(report.upward)
    assert not report.cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in report.cycles)
    assert not report.branches, (
        "branches on a space's name outside hwnas/core/spaces (ask the space instead):\n"
        + "\n".join(report.branches)
    )


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


TOY_LAYERS = (("toy", 0), ("toy.core", 0), ("toy.jobs", 1))
TOY = {
    "toy/__init__.py": "",
    "toy/core/__init__.py": "",
    "toy/core/spaces.py": 'def pick(name):\n    return name == "nb201"\n',
    "toy/core/a.py": "import numpy as np\n",
    "toy/core/b.py": "from toy.core import a\n",
    "toy/jobs/__init__.py": "from toy.core import b\n",
    "toy/jobs/run.py": "from . import helper\nfrom ..core.b import a\n",
    "toy/jobs/helper.py": "X = 1\n",
}


def test_a_clean_package_reports_nothing(tmp_path):
    _write(tmp_path, TOY)
    report = check_layers(tmp_path, ("toy",), TOY_LAYERS, spaces_dir=("toy", "core", "spaces.py"))
    assert not report, report


def test_planted_upward_import_cycle_and_branch_are_reported(tmp_path):
    planted = {
        **TOY,
        # upward, hidden in a function
        "toy/core/a.py": "def late():\n    from toy.jobs.run import helper\n    return helper\n",
        # a cycle through a function-level relative import: b -> c -> b
        "toy/core/c.py": "def f():\n    from . import b\n    return b\n",
        "toy/core/b.py": "import toy.core.c\n",
        # a branch on a space's name outside the spaces module
        "toy/jobs/helper.py": "def g(space):\n    if space != 'fbnet':\n        return 1\n",
    }
    _write(tmp_path, planted)
    report = check_layers(tmp_path, ("toy",), TOY_LAYERS, spaces_dir=("toy", "core", "spaces.py"))
    assert report.upward == ["toy.core.a -> toy.jobs.run"]
    assert ["toy.core.b", "toy.core.c"] in report.cycles
    assert report.branches == ["toy/jobs/helper.py:2: if space != 'fbnet':"]
    with pytest.raises(AssertionError, match="toy.core.a -> toy.jobs.run"):
        assert not report.upward, "imports into a higher layer:\n" + "\n".join(report.upward)


def test_a_module_outside_every_layer_is_refused(tmp_path):
    _write(tmp_path, {"toy/__init__.py": "", "toy/extra.py": ""})
    with pytest.raises(AssertionError, match="toy is in no layer"):
        check_layers(tmp_path, ("toy",), (("toy.core", 0),))


if __name__ == "__main__":  # python tests/test_layers.py: the report of this checkout
    found = check_layers(ROOT)
    print(found)
    sys.exit(1 if found else 0)

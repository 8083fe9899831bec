"""The library is the bottom floor: nothing under ``rgmp/`` (its command line aside) imports the training code, the
demo or the benchmark, and no project module imports itself back through others."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rgmp", "train", "demo")
ENTRY_POINTS = ("rgmp.cli", "rgmp.__main__")
"""The command line (a package) wires the layers together: it may import from every one of them."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> set[str]:
    """Every project module ``path`` imports, at the top or inside a function (a package import counts as its
    ``__init__``; ``from package import name`` as the submodule when ``name`` is one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] in PACKAGES and _exists(n))
    return found


def _exists(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    return {name: project_imports(path) - {name} for name, path in modules.items()}


def test_the_library_imports_no_upper_layer():
    wrong = []
    for module, imports in graph().items():
        if not module.startswith("rgmp") or module.startswith(ENTRY_POINTS):
            continue
        inside_bench = module.startswith("rgmp.bench")
        for name in imports:
            upper = name.startswith(("train", "demo")) or (name.startswith("rgmp.bench") and not inside_bench)
            if upper:
                wrong.append(f"{module} imports {name}")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycle():
    edges = graph()
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(path[path.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)


def test_the_walk_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import numpy\n\ndef f():\n    from train.online import online_finetune\n")
    assert project_imports(sample) == {"train.online"}

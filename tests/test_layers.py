"""Dependencies flow one way: common -> specs, hardware -> perfmodel -> search -> CLI.

Every import statement in a package (module level or inside a function) is checked against the
layers it may use. The CLI (perfmodel/cli, `python -m perfmodel`) and the Python API facade
(perfmodel/__init__.py: estimate, serve, bound, tune) sit on top and may import anything."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = {"common", "specs", "hardware", "perfmodel", "search"}
TOP = {"perfmodel/__init__.py", "perfmodel/__main__.py"}
ALLOWED = {
    "common": set(),
    "specs": {"common"},
    "hardware": {"common"},
    "perfmodel": {"common", "specs", "hardware"},
    "search": {"common", "specs", "hardware", "perfmodel"},
}


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def _violations(package: str) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[:2] == ("perfmodel", "cli") or rel.as_posix() in TOP:
            continue
        for line, module in _imports(path):
            top = module.split(".")[0]
            if module.startswith("perfmodel.cli"):
                out.append(f"{rel}:{line} imports {module} (the CLI layer)")
            elif top in PROJECT and top != package and top not in ALLOWED[package]:
                out.append(f"{rel}:{line} imports {module}")
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_lower_layers(package):
    assert _violations(package) == []


def test_the_check_sees_function_level_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from search.space import X\n")
    assert (2, "search.space") in list(_imports(src))

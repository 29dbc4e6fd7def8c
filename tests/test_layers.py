"""Dependencies flow one way: common -> specs, hardware -> perfmodel (core) -> search -> cli.

Every import statement of the project (module level or inside a function) is read from the source
and checked against the layers its module may use, and the import graph between the project's
modules must have no circle. The Python API facade (perfmodel/__init__.py, perfmodel/__main__.py)
sits on top with the CLI and imports lazily."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# repository folder -> installed package name (pyproject.toml [tool.setuptools] package-dir)
FOLDERS = {"common": "perfmodel.common", "specs": "perfmodel.specs", "hardware": "perfmodel.hardware",
           "perfmodel": "perfmodel", "search": "perfmodel.search", "cli": "perfmodel.cli"}
LAYER_OF_FOLDER = {"common": "common", "specs": "specs", "hardware": "hardware", "perfmodel": "core",
                   "search": "search", "cli": "cli"}
ALLOWED = {
    "common": set(),
    "specs": {"common"},
    "hardware": {"common"},
    "core": {"common", "specs", "hardware"},
    "search": {"common", "specs", "hardware", "core"},
    "cli": {"common", "specs", "hardware", "core", "search", "facade"},
    "facade": {"common", "specs", "hardware", "core", "search", "cli"},
}
FACADE = {"perfmodel", "perfmodel.__main__"}


def _modules() -> dict[str, Path]:
    out = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


MODULES = _modules()


def _layer(module: str) -> str:
    if module in FACADE:
        return "facade"
    best = max((p for p in FOLDERS.values() if module == p or module.startswith(p + ".")), key=len)
    return LAYER_OF_FOLDER[next(f for f, p in FOLDERS.items() if p == best)]


def _imports(path: Path, name: str):
    """(line, module) for each project module `path` imports; relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield node.lineno, sub if sub in MODULES else base


def _edges() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        deps = set()
        for _, mod in _imports(path, name):
            while mod and mod not in MODULES:   # `import perfmodel.specs.hf.x` -> the module that exists
                mod = mod.rpartition(".")[0]
            if mod and mod != name:
                deps.add(mod)
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]; counter[0] += 1; stack.append(root); on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]; counter[0] += 1; stack.append(w); on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop(); on.discard(w); comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_every_package_folder_is_in_the_wheel():
    import tomllib
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    assert packages == listed


def test_no_project_module_is_imported_outside_the_namespace():
    stray = [f"{MODULES[n].relative_to(ROOT)}:{line} imports {mod}"
             for n, p in MODULES.items() for line, mod in _imports(p, n)
             if mod.split(".")[0] in {"common", "specs", "hardware", "search", "cli"}]
    assert stray == []


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_lower_layers(layer):
    bad = []
    for name, deps in _edges().items():
        if _layer(name) != layer:
            continue
        for dep in deps:
            if _layer(dep) != layer and _layer(dep) not in ALLOWED[layer]:
                bad.append(f"{MODULES[name].relative_to(ROOT)} imports {dep} ({_layer(dep)} layer)")
    assert bad == []


def test_no_import_circle():
    assert _cycles(_edges()) == []


def test_the_checks_see_function_level_imports_and_circles(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from perfmodel.search.space import X\n")
    assert (2, "perfmodel.search.space") in list(_imports(src, "perfmodel.x"))
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]

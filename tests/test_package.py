"""Tests of the package's layout: the import graph has no cycle, modules do not reach into
each other's private names, and the public API resolves."""

import ast
from pathlib import Path

import refrnn

ROOT = Path(refrnn.__file__).parent


def _modules():
    out = {}
    for f in ROOT.rglob("*.py"):
        parts = f.relative_to(ROOT).with_suffix("").parts
        name = ".".join(("refrnn",) + parts).removesuffix(".__init__")
        out[name] = f
    return out


def _imports(name, path, modules):
    """(target module, imported names) of every import in ``path``, lazy ones included."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package
            for _ in range(node.level - 1):
                base = base.rsplit(".", 1)[0]
            target = f"{base}.{node.module}" if node.module else base
            names = [a.name for a in node.names]
            yield target, names
            for n in names:  # "from . import bptt" imports a module
                if f"{target}.{n}" in modules:
                    yield f"{target}.{n}", []
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            mod = node.module if isinstance(node, ast.ImportFrom) else None
            for a in node.names:
                target = mod or a.name
                if target.startswith("refrnn"):
                    yield target, [a.name] if mod else []


def _graph():
    modules = _modules()
    return modules, {
        m: {t for t, _ in _imports(m, f, modules) if t in modules and t != "refrnn"}
        for m, f in modules.items()
    }


def test_import_graph_has_no_cycle():
    """No module imports one that (directly or not) imports it back -- lazy imports inside
    functions count too. The package root only re-exports, so it is left out."""
    _, graph = _graph()
    graph = {m: {t for t in ts if graph.get(t) is not None} for m, ts in graph.items()}
    state = {}

    def visit(m, path):
        state[m] = "open"
        for t in sorted(graph[m]):
            if t.startswith(m + ".") and m != "refrnn":
                continue  # a package's __init__ importing its own submodules
            if state.get(t) == "open":
                cycle = path[path.index(t) :] + [t]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t, path + [t])
        state[m] = "done"

    for m in sorted(graph):
        if m != "refrnn" and m not in state:
            visit(m, [m])


def test_no_module_imports_private_names_of_another():
    """``from .x import _name`` only from private modules (``_kernels``, ``_linalg``,
    ``_validation``, ``_console``: their names exist to be shared inside the package), or
    within one module; a public module's private names are its own."""
    modules = _modules()
    bad = []
    for m, f in modules.items():
        for target, names in _imports(m, f, modules):
            if target.rpartition(".")[2].startswith("_") or target == m:
                continue
            for n in names:
                if n.startswith("_") and not n.startswith("__") and f"{target}.{n}" not in modules:
                    bad.append(f"{m} imports {target}.{n}")
    assert not bad, bad


def test_public_api_resolves():
    for name in refrnn.__all__:
        assert getattr(refrnn, name) is not None, name

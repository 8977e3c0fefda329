"""The tutorial notebooks: pairs in sync, stored without outputs, public API only.

Executing them is nbmake's job: with ``--nbmake`` in the pytest options (pyproject.toml)
every ``notebooks/**/*.ipynb`` is collected as one test and run top to bottom in a fresh
kernel, in the quick setting (``REFRNN_QUICK=1``, set by the repository's conftest.py).
This module checks what execution cannot: that the jupytext ``py:percent`` source of
truth and the ``.ipynb`` beside it hold the same cells, that the notebooks are committed
without outputs, and the conventions every notebook follows.
"""

import ast
import json
import os
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(p for p in NOTEBOOKS.rglob("*.py") if ".ipynb_checkpoints" not in p.parts)
IPYNBS = sorted(p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
TUTORIALS = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))

# What a notebook may import: refrnn's public API plus the scientific stack (torch is
# optional and guarded by try/except in the notebook that uses it).
# warnings: a notebook may silence a warning it has just shown and explained
ALLOWED_IMPORTS = {
    "os", "math", "time", "warnings", "numpy", "scipy", "matplotlib", "refrnn", "torch",
}  # fmt: skip


def _ids(paths):
    return [str(p.relative_to(NOTEBOOKS)) for p in paths]


def _cells(notebook):
    """(cell_type, source) of every cell, as jupytext reads it."""
    return [(c.cell_type, c.source) for c in notebook.cells]


def _code(path):
    return [src for kind, src in _cells(jupytext.read(path)) if kind == "code"]


def test_notebooks_exist():
    assert len(TUTORIALS) == 7, [p.name for p in TUTORIALS]
    assert SOURCES and IPYNBS


def test_every_source_has_its_ipynb_and_vice_versa():
    sources = {p.with_suffix("") for p in SOURCES}
    ipynbs = {p.with_suffix("") for p in IPYNBS}
    assert sources - ipynbs == set(), "run: jupytext --sync notebooks/*.py notebooks/solutions/*.py"
    assert ipynbs - sources == set(), "an .ipynb without its py:percent source"


@pytest.mark.parametrize("source", SOURCES, ids=_ids(SOURCES))
def test_pair_is_in_sync(source):
    """Same cells, same types, same sources -- compared as jupytext reads both files."""
    ipynb = source.with_suffix(".ipynb")
    from_py, from_ipynb = _cells(jupytext.read(source)), _cells(jupytext.read(ipynb))
    assert len(from_py) == len(from_ipynb), (
        f"{source.name}: {len(from_py)} cells in the .py, {len(from_ipynb)} in the .ipynb; "
        "run jupytext --sync"
    )
    for i, (a, b) in enumerate(zip(from_py, from_ipynb, strict=True)):
        assert a == b, f"{source.name}: cell {i} differs from the .ipynb; run jupytext --sync"


@pytest.mark.parametrize("ipynb", IPYNBS, ids=_ids(IPYNBS))
def test_ipynb_is_stored_without_outputs_and_runs_in_python3(ipynb):
    nb = json.loads(ipynb.read_text())
    # the kernel nbmake starts: "python3" resolves to the interpreter running pytest
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert nb["metadata"]["jupytext"]["formats"] == "ipynb,py:percent"
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, (
                f"{ipynb.name}: cell {i} has outputs; notebooks are committed without them "
                "(see notebooks/README.md)"
            )


@pytest.mark.parametrize("source", SOURCES, ids=_ids(SOURCES))
def test_reads_the_quick_setting(source):
    code = "\n".join(_code(source))
    assert 'os.environ.get("REFRNN_QUICK", "0") not in ("", "0")' in code


@pytest.mark.parametrize("source", SOURCES, ids=_ids(SOURCES))
def test_uses_only_the_public_api(source):
    """Imports from the allowed set only, nothing private of refrnn, and no private
    attributes (``obj._name``) of anything."""
    tree = ast.parse("\n".join(_code(source)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            modules = []
        for mod in modules:
            parts = mod.split(".")
            assert parts[0] in ALLOWED_IMPORTS, f"{source.name} imports {mod}"
            assert not any(p.startswith("_") for p in parts), f"{source.name} imports {mod}"
        if isinstance(node, ast.Attribute):
            private = node.attr.startswith("_") and not node.attr.startswith("__")
            assert not private, f"{source.name} uses the private attribute .{node.attr}"


@pytest.mark.parametrize("tutorial", TUTORIALS, ids=_ids(TUTORIALS))
def test_tutorial_has_learning_goals_exercises_and_solutions(tutorial):
    cells = _cells(jupytext.read(tutorial))
    first, last = cells[0], cells[-1]
    assert first[0] == "markdown" and "What you will learn" in first[1]
    assert "Prerequisites" in first[1]
    assert last[0] == "markdown" and "## Exercises" in last[1]
    n_exercises = sum(
        line.lstrip("# ").split(".")[0] in {"1", "2", "3"}
        for line in last[1].split("## Exercises")[1].splitlines()
    )
    assert 2 <= n_exercises <= 3
    solution = NOTEBOOKS / "solutions" / tutorial.name
    assert solution.exists(), f"missing worked solutions {solution}"
    assert f"solutions/{tutorial.stem}.ipynb" in last[1]


def test_quick_setting_is_the_default_under_pytest():
    # conftest.py at the repository root sets it before nbmake starts any kernel
    assert os.environ.get("REFRNN_QUICK") is not None

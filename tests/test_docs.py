"""The documentation site: the API reference covers every public name.

Building the site (``mkdocs build --strict``, in CI) checks that every page renders and
every link and cross-reference resolves; it cannot know which names *should* be there.
This module checks that: every name of ``refrnn.__all__`` is listed in docs/api/index.md
with a cross-reference to the object itself, on a page that renders it; and that the
executed notebooks the site shows (docs/notebooks/) are those of the current notebooks. It
reads the sources only, so it needs none of the docs extras.
"""

import importlib
import json
import re
import sys
import types
from pathlib import Path

import pytest

import refrnn

DOCS = Path(__file__).resolve().parent.parent / "docs"
API = DOCS / "api"
INDEX = (API / "index.md").read_text()

# [`refrnn.name`][refrnn.module.name] -- an autorefs link to the rendered object
XREF = re.compile(r"\[`refrnn\.(\w+)`\]\[(refrnn(?:\.\w+)+)\]")
# | `refrnn.module` | [`refrnn.module`](module.md) |
MODULE_ROW = re.compile(r"\| `refrnn\.(\w+)` \| \[`refrnn\.\w+`\]\((\w+)\.md\) \|")
DIRECTIVE = re.compile(r"^::: (refrnn(?:\.\w+)*)\s*$", re.MULTILINE)


def _rendered():
    """Every object path rendered by a ``::: path`` directive, with its page."""
    return {
        m.group(1): page.name
        for page in API.glob("*.md")
        for m in DIRECTIVE.finditer(page.read_text())
    }


def _resolve(path):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_every_public_name_is_listed():
    listed = {m.group(1) for m in XREF.finditer(INDEX)} | {
        m.group(1) for m in MODULE_ROW.finditer(INDEX)
    }
    assert set(refrnn.__all__) - listed == set(), "add them to docs/api/index.md"
    assert listed - set(refrnn.__all__) == set(), "no longer in refrnn.__all__"


@pytest.mark.parametrize("name, target", [m.groups() for m in XREF.finditer(INDEX)])
def test_cross_reference_is_the_object_and_is_rendered(name, target):
    assert _resolve(target) is getattr(refrnn, name), f"{target} is not refrnn.{name}"
    rendered = _rendered()
    # rendered directly (::: refrnn.X) or as a member of its module's page (::: refrnn.mod)
    owner = target.rpartition(".")[0]
    assert target in rendered or owner in rendered, f"no page renders {target}"
    if target not in rendered:
        module = sys.modules[owner]
        # mkdocstrings renders a module's own public members and those it lists in
        # __all__ (the imported ones); anything else would be silently left out
        defined_here = getattr(_resolve(target), "__module__", None) == owner
        assert defined_here or name in getattr(module, "__all__", ()), target


@pytest.mark.parametrize("name, page", [m.groups() for m in MODULE_ROW.finditer(INDEX)])
def test_module_has_a_page(name, page):
    assert isinstance(getattr(refrnn, name), types.ModuleType)
    assert _rendered().get(f"refrnn.{name}") == f"{page}.md", f"docs/api/{page}.md"


def test_math_roles_become_arithmatex():
    """The griffe extension that turns the docstrings' Sphinx roles into Markdown (needs
    the docs extra; the site build exercises it too)."""
    pytest.importorskip("griffe")
    sys.path.insert(0, str(DOCS))
    try:
        from griffe_rst import rst_to_markdown
    finally:
        sys.path.remove(str(DOCS))
    text = "See :func:`train` and :math:`e^{x}`.\n\n.. math::\n\n    a = b\n\n    + c\n\nEnd."
    assert rst_to_markdown(text) == "See `train` and $e^{x}$.\n\n\n$$\na = b\n+ c\n$$\n\nEnd."


NOTEBOOKS = DOCS.parent / "notebooks"
SITE_NOTEBOOKS = sorted(
    p.relative_to(NOTEBOOKS)
    for p in NOTEBOOKS.rglob("[0-9][0-9]_*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)


@pytest.mark.parametrize("rel", SITE_NOTEBOOKS, ids=str)
def test_site_shows_the_current_notebook_executed_in_full(rel):
    """docs/notebooks/ holds, for every notebook, a copy executed in the full setting of the
    notebook as it is now: same cells, same sources (re-run docs/execute_notebooks.py
    --full after editing a notebook)."""
    source = json.loads((NOTEBOOKS / rel).read_text())
    executed = json.loads((DOCS / "notebooks" / rel).read_text())
    assert executed["metadata"]["refrnn_execution"]["setting"] == "full"
    cells = [(c["cell_type"], "".join(c["source"])) for c in source["cells"]]
    assert [(c["cell_type"], "".join(c["source"])) for c in executed["cells"]] == cells, (
        f"docs/notebooks/{rel} is stale: python docs/execute_notebooks.py --full "
        f"{(rel.parent / rel.stem[:2]).as_posix()} (or --markdown-only if only text changed)"
    )
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in code)
    assert not any(o["output_type"] == "error" for c in code for o in c["outputs"])

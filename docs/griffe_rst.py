"""Griffe extension: read refrnn's Sphinx-flavoured numpydoc docstrings as Markdown.

refrnn's docstrings follow numpydoc with Sphinx roles (``:math:`...```, ``.. math::``
blocks, ``:func:`...```), which Sphinx renders natively; mkdocstrings renders docstrings
as Markdown. Before griffe parses a docstring this extension rewrites, in the docstring
only (never the source):

* ``:math:`x``` into ``$x$`` and a ``.. math::`` block into a ``$$ ... $$`` block, which
  the site's arithmatex extension hands to MathJax;
* ``text::`` before a literal block into ``text:`` (the indented block is Markdown code);
* ``:func:`name```, ``:class:``, ``:meth:``, ``:mod:``, ``:attr:``, ``:data:`` into the
  code span ``name`` (plain code rather than cross-references, so that a reference to a
  private helper never breaks the strict build).

A docstring completed at import time (``loss_and_grad.__doc__`` has a shared
``{detach}`` paragraph filled in by refrnn/bptt.py) is read from the imported object, so
the page shows what ``help()`` shows.
"""

import importlib
import inspect
import re

from griffe import Extension

_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_XREF_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc):`~?([^`]+)`")


def _math_blocks(text):
    """Turn every ``.. math::`` directive (and its indented body) into ``$$ ... $$``."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if not stripped.startswith(".. math::"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(stripped)]
        body = [stripped[len(".. math::"):].strip()] if stripped[len(".. math::"):].strip() else []
        i += 1
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)
        ):
            body.append(lines[i].strip())
            i += 1
        while body and not body[-1]:
            body.pop()
        body = [b for b in body if b]  # MathJax needs no blank lines inside $$ ... $$
        out += ["", f"{indent}$$"] + [f"{indent}{b}" for b in body] + [f"{indent}$$", ""]
    return "\n".join(out)


def rst_to_markdown(text):
    """The rewrite described in the module docstring (exposed for the tests)."""
    text = _math_blocks(text)
    # "Format::" introduces a literal block; the indented block is already Markdown code
    text = re.sub(r"(\S)::$", r"\1:", text, flags=re.MULTILINE)
    text = _MATH_ROLE.sub(lambda m: f"${m.group(1).strip()}$", text)
    return _XREF_ROLE.sub(lambda m: f"`{m.group(1)}`", text)


_PLACEHOLDER = re.compile(r"^\s*\{[a-z_]+\}\s*$", re.MULTILINE)


def _runtime_docstring(path):
    """The docstring of the imported object at ``path`` (e.g. "refrnn.bptt.loss_and_grad")."""
    module, _, name = path.rpartition(".")
    obj = getattr(importlib.import_module(module), name)
    return inspect.cleandoc(obj.__doc__)


class RstRoles(Extension):
    """Rewrite each docstring as it is loaded (see the module docstring)."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is None:
            return
        if _PLACEHOLDER.search(obj.docstring.value):
            obj.docstring.value = _runtime_docstring(obj.path)
        obj.docstring.value = rst_to_markdown(obj.docstring.value)

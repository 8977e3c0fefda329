"""MkDocs hooks: pages whose single source lives outside docs/, and figures for results.

* The home page is README.md, the notebooks' index notebooks/README.md, the contributing
  guide CONTRIBUTING.md, the benchmark pages benchmarks/README.md and
  benchmarks/results/*.md (with their figure). They are added to the site as generated
  files, so the repository keeps one copy of each text; paths that point into the
  repository (``docs/results/x.md``, ``notebooks/``, ``benchmarks/README.md``) become
  links to the corresponding page.
* Each results page (docs/results/*.md, written by the experiment scripts and left
  untouched) gets the figures of the same name appended: ``x.png`` and ``x_*.png`` belong
  to the page ``x.md`` with the longest such name.
* The notebook pages under docs/notebooks/ are executed copies written by
  docs/execute_notebooks.py; the site never executes a notebook.
* MathJax 3 is served by the site itself (from the ``django-static-mathjax`` wheel of the
  docs extra, a plain copy of MathJax 3.2.2 without dependencies), so that formulas render
  offline -- in a classroom without internet and in CI's headless browser.
"""

import json
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

REPO = Path(__file__).resolve().parent.parent

# repository file -> page of the site
GENERATED = {
    "README.md": "index.md",
    "CONTRIBUTING.md": "contributing.md",
    "notebooks/README.md": "notebooks/index.md",
    "benchmarks/README.md": "benchmarks/index.md",
    "benchmarks/results/results.md": "benchmarks/results/results.md",
    "benchmarks/results/profile.md": "benchmarks/results/profile.md",
}
GENERATED_BINARY = {"benchmarks/results/scaling.png": "benchmarks/results/scaling.png"}

# repository paths mentioned in those texts -> page of the site
REPO_PATHS = {
    "notebooks/": "notebooks/index.md",
    "notebooks/README.md": "notebooks/index.md",
    "notebooks/solutions/": "notebooks/solutions/index.md",
    "benchmarks/README.md": "benchmarks/index.md",
    "benchmarks/results/results.md": "benchmarks/results/results.md",
    "CONTRIBUTING.md": "contributing.md",
    "README.md": "index.md",
}


def _site_target(repo_path):
    """The site page for a repository path, or None."""
    if repo_path in REPO_PATHS:
        return REPO_PATHS[repo_path]
    published = (".md", ".png", ".ipynb", ".json", ".csv")  # docs/*.py are not in the site
    if repo_path.startswith("docs/") and repo_path.endswith(published) and (
            REPO / repo_path).is_file():
        return repo_path[len("docs/"):]
    return None


def _relative(target, page_uri):
    """target (site path) relative to the folder of page_uri (site path)."""
    depth = page_uri.count("/")
    return "../" * depth + target


def _relink(text, source, page_uri):
    """Rewrite links and code-span paths of the repository file ``source`` for the site."""
    source_dir = Path(source).parent

    def link(m):
        label, target = m.group(1), m.group(2)
        if re.match(r"^[a-z]+:|^#", target):
            return m.group(0)
        repo_path = (source_dir / target).as_posix()
        repo_path = repo_path + "/" if target.endswith("/") else repo_path
        site = _site_target(repo_path.removeprefix("./"))
        return f"[{label}]({_relative(site, page_uri)})" if site else m.group(0)

    def code_span(m):
        site = _site_target(m.group(1))
        return f"[`{m.group(1)}`]({_relative(site, page_uri)})" if site else m.group(0)

    text = re.sub(r"\[([^\]]*)\]\(([^)\s]+)\)", link, text)
    # a path in backticks, not already the label of a link
    return re.sub(r"(?<!\[)`((?:docs|notebooks|benchmarks)/[^`\s]*|CONTRIBUTING\.md)`(?!\])",
                  code_span, text)


def _solutions_index():
    lines = ["# Worked solutions", "",
             "The exercises of each tutorial notebook, worked out (executed in the full "
             "setting, like the tutorials).", ""]
    for p in sorted((REPO / "notebooks" / "solutions").glob("[0-9][0-9]_*.py")):
        title = p.stem.replace("_", " ")
        lines.append(f"* [{title}]({p.stem}.ipynb)")
    return "\n".join(lines) + "\n"


def _executed_note():
    timings = REPO / "docs" / "notebooks" / "timings.json"
    rows = json.loads(timings.read_text()) if timings.exists() else {}
    out = ["!!! note \"The notebooks on this site\"",
           "    The pages below are copies of the notebooks executed in the **full setting** "
           "by `python docs/execute_notebooks.py --full` (the repository stores the notebooks "
           "without outputs; the site build never executes them). Wall time of that run, "
           "one notebook at a time on 2 shared cores:", ""]
    for name, rec in rows.items():
        out.append(f"    * `{name}`: {rec['wall_time_s']:.0f} s ({rec['setting']} setting, "
                   f"refrnn {rec['refrnn_version']}, {rec['executed_utc'][:10]})")
    return "\n".join(out) + "\n\n"


MATHJAX_URI = "javascripts/mathjax"


def _mathjax_files():
    """(relative path, absolute path) of the MathJax 3 files the site needs (CommonHTML
    output, TeX input and its extensions; not the speech rule engine or SVG output)."""
    try:
        import mathjax
    except ImportError as exc:
        raise PluginError("MathJax is missing: pip install -e '.[docs]'") from exc
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    for path in sorted(es5.rglob("*")):
        rel = path.relative_to(es5).as_posix()
        if path.is_file() and not rel.startswith(("sre/", "output/svg")) and (
            "svg" not in path.name and "speech" not in path.name
        ):
            yield rel, path


def on_files(files, config):
    for rel, path in _mathjax_files():
        files.append(File.generated(config, f"{MATHJAX_URI}/{rel}", abs_src_path=str(path)))
    for source, uri in GENERATED.items():
        files.append(File.generated(config, uri, abs_src_path=str(REPO / source)))
    for source, uri in GENERATED_BINARY.items():
        files.append(File.generated(config, uri, abs_src_path=str(REPO / source)))
    files.append(File.generated(config, "notebooks/solutions/index.md",
                                content=_solutions_index()))
    return files


def on_page_markdown(markdown, page, config, files):
    uri = page.file.src_uri
    source = {v: k for k, v in GENERATED.items()}.get(uri)
    if source is not None:
        markdown = _relink(markdown, source, uri)
    if uri == "notebooks/index.md":
        title, _, rest = markdown.partition("\n")
        markdown = f"{title}\n\n{_executed_note()}{rest}"
    if uri.startswith("results/") and uri.endswith(".md") and uri != "results/index.md":
        markdown += _figures(uri)
    return markdown


def _figures(uri):
    """Figures ``<stem>.png`` / ``<stem>_*.png`` of a results page not shown on it yet."""
    results = REPO / "docs" / "results"
    stems = [p.stem for p in results.glob("*.md")]
    stem = Path(uri).stem
    own = []
    for png in sorted(results.glob("*.png")):
        owners = [s for s in stems if png.stem == s or png.stem.startswith(s + "_")]
        if owners and max(owners, key=len) == stem:
            own.append(png.name)
    if not own:
        return ""
    out = ["", "", "## Figures", ""]
    out += [f"![{name}]({name})" + "\n" for name in own]
    return "\n".join(out) + "\n"

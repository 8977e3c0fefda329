"""Execute the tutorial notebooks and their solutions into docs/notebooks/ for the site.

The notebooks under ``notebooks/`` are committed without outputs (the jupytext ``.py`` is
the source of truth; see notebooks/README.md). The documentation site renders executed
copies instead, which this script writes, one notebook at a time, in a fresh kernel each:

    python docs/execute_notebooks.py --full            # all of them, full setting
    python docs/execute_notebooks.py --full 02 solutions/02   # only those (path prefixes)
    python docs/execute_notebooks.py --quick --out /tmp/nb   # the quick setting elsewhere
    python docs/execute_notebooks.py --markdown-only   # only text changed: copy it over

``--full`` sets ``REFRNN_QUICK=0`` (the budgets the prose describes, and the asserts that
check its claims); ``--quick`` sets ``REFRNN_QUICK=1``. Each notebook runs with
``notebooks/`` (or ``notebooks/solutions/``) as its working directory. A notebook whose
cell raises -- for example an ``assert`` on a claim that no longer holds -- is not written;
the script carries on with the next one and exits with status 1 at the end. Each written
notebook records the setting, its wall time and the refrnn version in its metadata
(``refrnn_execution``), and ``docs/notebooks/timings.json`` collects the wall times.

The copies are written to ``docs/notebooks/`` (mirroring ``notebooks/``) and committed:
the site build (``mkdocs build --strict``) renders them as they are and never executes a
notebook, so CI builds the site in seconds while the pages show full-setting figures.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE_DIR = REPO / "notebooks"
DEFAULT_OUT = REPO / "docs" / "notebooks"


def _notebooks(prefixes):
    """The paired .ipynb of every tutorial, then of every solution, in name order."""
    found = sorted(SOURCE_DIR.glob("[0-9][0-9]_*.ipynb"))
    found += sorted((SOURCE_DIR / "solutions").glob("[0-9][0-9]_*.ipynb"))
    if prefixes:
        found = [p for p in found
                 if any(p.relative_to(SOURCE_DIR).as_posix().startswith(pre) for pre in prefixes)]
    return found


def _write_atomic(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def execute(path, quick, timeout):
    """Execute one notebook in a fresh kernel; return (executed notebook, wall seconds)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    # the kernel is a subprocess of this one and inherits the setting from the environment
    os.environ["REFRNN_QUICK"] = "1" if quick else "0"
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in map(_without_tqdm_notice, cell.outputs) if o is not None]
    return nb, seconds


def _refresh_markdown(path, executed_path):
    """Give the executed copy the text cells of the notebook at ``path``, if nothing else
    changed (same cells, same types, same code); True on success."""
    import nbformat

    source, executed = nbformat.read(path, as_version=4), nbformat.read(executed_path, 4)
    kinds = [c.cell_type for c in source.cells]
    same_code = kinds == [c.cell_type for c in executed.cells] and all(
        a.source == b.source for a, b in zip(source.cells, executed.cells, strict=True)
        if a.cell_type == "code")
    if not same_code:
        print(f"{path.name}: code cells changed, run --full for it", flush=True)
        return False
    for a, b in zip(source.cells, executed.cells, strict=True):
        if a.cell_type != "code":
            b.source = a.source
    _write_atomic(executed_path, nbformat.writes(executed) + "\n")
    print(f"  text cells of {executed_path} refreshed", flush=True)
    return True


def _without_tqdm_notice(output):
    """tqdm's notice that no widget frontend is attached (there is none here) is not part
    of the notebook's content: remove its two lines from stderr, nothing else."""
    if output.get("name") != "stderr" or "TqdmWarning: IProgress not found" not in output.text:
        return output
    lines = output.text.splitlines(keepends=True)
    keep = [ln for i, ln in enumerate(lines) if "TqdmWarning: IProgress not found" not in ln
            and not (i > 0 and "TqdmWarning: IProgress not found" in lines[i - 1])]
    output.text = "".join(keep)
    return output if output.text.strip() else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    setting = parser.add_mutually_exclusive_group(required=True)
    setting.add_argument("--full", action="store_true", help="REFRNN_QUICK=0 (for the site)")
    setting.add_argument("--quick", action="store_true", help="REFRNN_QUICK=1 (a smoke test)")
    setting.add_argument("--markdown-only", action="store_true",
                         help="copy the text cells into the executed copies, run nothing "
                              "(refused for a notebook whose code cells changed)")
    parser.add_argument("prefixes", nargs="*",
                        help="only notebooks whose path under notebooks/ starts so")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output folder (default: {DEFAULT_OUT.relative_to(REPO)})")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell (3600)")
    args = parser.parse_args(argv)

    import nbformat

    import refrnn

    timings_path = args.out / "timings.json"
    failed = []
    for path in _notebooks(args.prefixes):
        rel = path.relative_to(SOURCE_DIR)
        if args.markdown_only:
            if not _refresh_markdown(path, args.out / rel):
                failed.append(str(rel))
            continue
        print(f"executing {rel} ({'quick' if args.quick else 'full'} setting) ...", flush=True)
        try:
            nb, seconds = execute(path, args.quick, args.timeout)
        except Exception as exc:  # a failing cell: report it, keep the old copy, go on
            print(f"FAILED {rel}: {type(exc).__name__}: {str(exc)[-2000:]}", flush=True)
            failed.append(str(rel))
            continue
        nb.metadata["refrnn_execution"] = {
            "setting": "quick" if args.quick else "full",
            "wall_time_s": round(seconds, 1),
            "refrnn_version": refrnn.__version__,
            "executed_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        _write_atomic(args.out / rel, nbformat.writes(nb) + "\n")
        # re-read: another invocation may have added entries meanwhile
        timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
        timings[str(rel)] = nb.metadata["refrnn_execution"]
        _write_atomic(timings_path, json.dumps(dict(sorted(timings.items())), indent=1) + "\n")
        print(f"  wrote {args.out / rel} in {seconds:.0f} s", flush=True)
    if failed:
        print("failed:", ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Keep Numba's on-disk cache consistent with the source it was compiled from.

Numba's ``cache=True`` checks only the source file of the cached function itself. A kernel
in :mod:`refrnn.bptt` that calls the dispatch in :mod:`refrnn._kernels`, which calls the
equations of :mod:`refrnn.equations`, would therefore keep running the old equations after
any of those files changed (an edited model, a new model kind, an upgrade installed over an
old checkout). :func:`drop_stale_cache` compares a hash of every source file of the
package with the hash recorded when the cache was last validated and, if they differ,
deletes all of refrnn's cached kernels, so that they are compiled afresh on first use.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_ROOT = Path(__file__).parent
_STAMP = _ROOT / "__pycache__" / "refrnn-source.sha256"


def _source_hash():
    h = hashlib.sha256()
    for f in sorted(_ROOT.rglob("*.py")):
        h.update(str(f.relative_to(_ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def drop_stale_cache():
    """Delete refrnn's Numba cache files if any source file changed since they were made.

    Returns True if files were deleted. Never raises: on a read-only installation the
    cache cannot be written either, and nothing is stale.
    """
    try:
        digest = _source_hash()
        if _STAMP.exists() and _STAMP.read_text() == digest:
            return False
        for f in list(_ROOT.rglob("*.nbi")) + list(_ROOT.rglob("*.nbc")):
            f.unlink(missing_ok=True)
        _STAMP.parent.mkdir(exist_ok=True)
        tmp = _STAMP.with_suffix(f".{hashlib.sha256(digest.encode()).hexdigest()[:8]}.tmp")
        tmp.write_text(digest)
        tmp.replace(_STAMP)
        return True
    except OSError:
        return False

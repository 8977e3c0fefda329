"""Tests of refrnn._cache: stale Numba caches are dropped when any source file changes."""

import refrnn
from refrnn import _cache


def test_unchanged_source_keeps_the_cache():
    _cache.drop_stale_cache()  # whatever state we start in, this validates it
    assert _cache.drop_stale_cache() is False


def test_changed_source_drops_every_cached_kernel(tmp_path, monkeypatch):
    """A copy of the package with a cache file and a stamp: editing any .py must delete
    the cache (Numba itself would only notice edits of the kernel's own file)."""
    root = tmp_path / "pkg"
    (root / "__pycache__").mkdir(parents=True)
    (root / "equations").mkdir()
    (root / "a.py").write_text("x = 1\n")
    (root / "equations" / "b.py").write_text("y = 2\n")
    monkeypatch.setattr(_cache, "_ROOT", root)
    monkeypatch.setattr(_cache, "_STAMP", root / "__pycache__" / "refrnn-source.sha256")
    assert _cache.drop_stale_cache() is True  # no stamp yet
    cached = root / "__pycache__" / "a.f-1.py311.nbi"
    cached.write_text("")
    assert _cache.drop_stale_cache() is False and cached.exists()
    (root / "equations" / "b.py").write_text("y = 3\n")  # a dependency changes
    assert _cache.drop_stale_cache() is True
    assert not cached.exists()


def test_package_imports_after_a_check():
    assert refrnn.__version__

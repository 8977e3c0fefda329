"""Run tests/test_fuzz.py and print how many cases it tried and how they ended.

Usage: ``python tests/fuzz_counts.py`` (from the repository root). Hypothesis replays the
same derandomised examples every run, so the counts are reproducible; they include the
shrinking phase only when a test fails.
"""

import importlib
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# conftest first: it loads the derandomised hypothesis profile that test_fuzz's settings
# inherit when they are created at import (otherwise this run would draw other examples)
importlib.import_module("conftest")
import test_fuzz  # noqa: E402  (the module pytest then reuses, with its OUTCOMES counter)


def main():
    code = pytest.main([str(HERE / "test_fuzz.py"), "-q", "-p", "no:cacheprovider",
                        "-o", "addopts="])  # fmt: skip
    per_test = {}
    for (test, kind), n in test_fuzz.OUTCOMES.items():
        per_test.setdefault(test, {"result": 0, "error": 0})[kind] += n
    print(f"\n{'test':<22} {'cases':>6} {'errors':>7} {'results':>8}")
    for test, c in sorted(per_test.items()):
        print(f"{test:<22} {c['result'] + c['error']:>6} {c['error']:>7} {c['result']:>8}")
    total = sum(test_fuzz.OUTCOMES.values())
    errors = sum(n for (_, kind), n in test_fuzz.OUTCOMES.items() if kind == "error")
    print(f"{'all':<22} {total:>6} {errors:>7} {total - errors:>8}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())

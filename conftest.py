"""Repository-wide pytest configuration (the per-module test setup is in tests/conftest.py).

The tutorial notebooks under ``notebooks/`` read the environment variable ``REFRNN_QUICK``:
unset or ``0`` means the full, publication-quality setting; ``1`` shrinks every budget so
that all notebooks and their solutions execute in a few minutes. Under pytest the quick
setting is the default. nbmake starts each notebook's kernel as a subprocess of this
process, so the kernel inherits the variable set here. Run ``REFRNN_QUICK=0 pytest
notebooks`` to execute the full setting under pytest instead.
"""

import os

os.environ.setdefault("REFRNN_QUICK", "1")

"""``python -m refrnn`` is the same as the ``refrnn`` console script."""

import sys

from .cli import main

sys.exit(main())

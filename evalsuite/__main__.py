"""`python -m evalsuite ...`: the same command line as `evalsuite ...` (torchrun launches it this way)."""

import sys

from evalsuite.cli import main

sys.exit(main())

"""`python -m pipeline`: the project's command line (pipeline/cli.py)."""

import sys

from pipeline.cli import main

sys.exit(main())

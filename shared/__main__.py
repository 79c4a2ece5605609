"""`python -m shared ...`: see shared/cli.py."""

import sys

from shared.cli import main

sys.exit(main())

"""`python -m bench` (make bench): every bench in turn, Plytix search calls first, then the full scan.

Arguments (`--sizes 1000 10000`) are passed to each bench unchanged.
"""

from __future__ import annotations

import sys
from typing import Sequence

from bench import plytix_calls, scan_cost


def main(argv: Sequence[str] | None = None) -> None:
    for bench in (plytix_calls, scan_cost):
        bench.main(argv)
        print()


if __name__ == "__main__":
    main(sys.argv[1:])

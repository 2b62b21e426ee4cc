"""python -m labkit.room start | status | stop | reset (what `./lab room` runs)."""

import sys

from .manage import main

sys.exit(main(sys.argv[1:]))

"""`python -m hwnas.cli`: the `hwnas` command."""

import sys

from hwnas.cli import console_main

sys.exit(console_main())

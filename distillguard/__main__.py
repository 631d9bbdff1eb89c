"""`python -m distillguard`: the `distillguard` command."""

import sys

from distillguard.streams.cli import main

sys.exit(main())

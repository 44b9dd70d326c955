"""`python -m mde_hub ...` runs the `mde-hub` command."""

import sys

from .cli import main

sys.exit(main())

"""Run the command line as ``python -m civiccrm.cli``."""

import sys

from civiccrm.cli import main

sys.exit(main())

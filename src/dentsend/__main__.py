"""``python -m dentsend``: the same entry point as the ``dentsend`` command."""

import sys

from dentsend.cli import main

sys.exit(main())

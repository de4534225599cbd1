"""python -m gateway: see gateway/cli.py (DESIGN §3.3)."""

import sys

from gateway.cli import main

sys.exit(main())

"""``python -m spondy_annotate``: the same as the ``spondy-annotate`` command."""

import sys

from spondy_annotate.cli import main

sys.exit(main())

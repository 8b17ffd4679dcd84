"""``python -m dwt.cli``: the same as the ``dwt`` command."""

import sys

from dwt.cli import main

sys.exit(main())

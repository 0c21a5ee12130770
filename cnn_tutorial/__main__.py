"""``python -m cnn_tutorial``: the command line (see :mod:`cnn_tutorial.cli`)."""

import sys

from .cli import main

sys.exit(main())

"""``python -m cti_ir.index``: build, extend or inspect a catalogue index (see :mod:`cti_ir.index.cli`)."""

import sys

from cti_ir.index.cli import main

sys.exit(main())

"""``python -m cti_ir.evaluate``: Recall@K of a checkpoint on a benchmark (see :mod:`cti_ir.evaluate.cli`)."""

import sys

from cti_ir.evaluate.cli import main

sys.exit(main())

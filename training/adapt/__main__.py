"""``python -m training.adapt``: label-free adaptation to a shop's photos (see :mod:`training.adapt.trainer`)."""

import sys

from training.adapt.trainer import main

sys.exit(main())

"""``python -m training.fit_embedding_map``: train an embedding transformation for asymmetric search (see
:mod:`training.fit_embedding_map.trainer`)."""

import sys

from training.fit_embedding_map.trainer import main

sys.exit(main())

"""The search page: upload (or pick) a product photo, type how it should differ, get matching catalogue products.

    python app.py                                   # built-in demo: generated catalogue + demo model, cached
    python app.py --checkpoint runs/stage3/best --index index/   # your own model and catalogue index
    python app.py --help

The page, the JSON API and their command line live in ``cti_ir.serve``; this file only adds the built-in demo
(``data_prep.demo``), which the library cannot import.
"""

from __future__ import annotations

import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the page (the demo when neither --index nor --checkpoint is given); returns the exit status."""
    from cti_ir.serve.cli import main as serve
    from data_prep.demo import prepare_demo

    return serve(argv, prepare_demo=prepare_demo)


if __name__ == "__main__":
    sys.exit(main())

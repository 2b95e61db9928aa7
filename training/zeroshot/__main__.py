import sys

from training.zeroshot.cli import main

sys.exit(main())

"""``python -m seg_prover``: the same as the ``seg-prover`` command."""

import sys

from seg_prover.cli import main

sys.exit(main())

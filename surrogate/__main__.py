"""``python -m surrogate``: the command line, so a launcher that runs modules works too
(``torchrun --nproc_per_node=2 -m surrogate train ...``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

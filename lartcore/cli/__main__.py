"""`python -m lartcore.cli ...` (e.g. under torchrun) = `lart ...`."""
import sys

from lartcore.cli import main

sys.exit(main())

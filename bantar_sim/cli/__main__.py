"""`python -m bantar_sim.cli COMMAND ...`: the same as `bantar-sim COMMAND ...`."""
import sys

from bantar_sim.cli import main

sys.exit(main())

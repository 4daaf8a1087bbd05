"""The seed command of this stage; its code and flags (``--help``) are in
:mod:`autoact.commands.tool_selection`."""

import sys

from autoact.cli import run
from autoact.commands.tool_selection import main, make_parser

if __name__ == "__main__":
    sys.exit(run(main, make_parser()))

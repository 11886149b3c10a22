"""PyInstaller's entry script: the `signoff` command, exactly as the console script runs it."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())

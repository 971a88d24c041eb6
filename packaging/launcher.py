"""Entry point of the PyInstaller bundle: the same ``main`` as the ``forensic-viewer`` command.

PyInstaller needs a script, not a ``module:function`` entry point, hence this file.
"""

import multiprocessing
import sys

from forensic_viewer.cli import main

if __name__ == "__main__":
    # A frozen program re-executes itself for multiprocessing children (torch DataLoader workers,
    # process pools); without this call each child would start the whole app again.
    multiprocessing.freeze_support()
    sys.exit(main())

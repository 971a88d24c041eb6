"""Import pyqtgraph for the viewer: row-major images, no antialiasing, and no CUDA probing.

pyqtgraph's package import loads ``RawImageWidget``, which probes the CUDA Python bindings that
torch's CUDA wheels install (about 0.1 s of start-up, for a widget the viewer never uses). The
probe is skipped by hiding ``cuda.bindings`` during this one import; it is restored right after,
so torch and anything else can still import it later.
"""

from __future__ import annotations

import sys

_MISSING = object()


def _import_pyqtgraph():
    if "pyqtgraph" in sys.modules:
        return sys.modules["pyqtgraph"]
    saved = sys.modules.get("cuda.bindings", _MISSING)
    sys.modules["cuda.bindings"] = None  # makes `from cuda.bindings import ...` raise ImportError
    try:
        import pyqtgraph
    finally:
        if saved is _MISSING:
            sys.modules.pop("cuda.bindings", None)
        else:
            sys.modules["cuda.bindings"] = saved
    return pyqtgraph


pg = _import_pyqtgraph()
pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

__all__ = ["pg"]

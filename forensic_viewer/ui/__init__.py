"""The desktop viewer (PySide6 + pyqtgraph). Entry point: ``forensic_viewer.ui.app.run_gui``.

Work-around for a PySide6 6.12.0 bug, applied before any Qt module of the viewer is used:
``SignalInstance.emit()`` returns ``True`` without taking a reference, so every signal emitted
from Python (ours and pyqtgraph's, e.g. one per mouse move) takes one reference away from the
``True`` singleton. On Python 3.11, where bools are ordinary objects, the count reaches zero after
a few thousand emits and the interpreter aborts ("bool_dealloc: deallocating True or False"),
during a session or at exit. Python 3.12+ makes bools immortal for exactly this reason; here we do
the same by giving both singletons a reference count no session can use up. They are never freed
anyway, so nothing else changes. Importing this package (and so any ``forensic_viewer.ui``
module) applies it once; it does not import Qt.
"""

from __future__ import annotations

import sys

_PINNED_REFERENCES = 1 << 40


def _make_bools_immortal() -> None:
    if sys.version_info >= (3, 12) or getattr(sys, "_forensic_viewer_bools_pinned", False):
        return
    import ctypes

    for singleton in (True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += _PINNED_REFERENCES
    sys._forensic_viewer_bools_pinned = True


_make_bools_immortal()

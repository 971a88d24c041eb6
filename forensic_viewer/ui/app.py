"""Start the GUI: ``run_gui(paths, screenshot=None, view="ela")``.

``view`` is "ela", "grid", or "heatmap" (the ELA tab with the network's heatmap drawn over the
original for this run, without changing the remembered choice).

In screenshot mode the window is shown, the images are loaded, every background job is awaited,
the window is grabbed into a PNG (atomic write) and the function returns 0 (1 on timeout or if the
screenshot could not be written). torch is never imported here: the network is loaded lazily.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from forensic_viewer import __version__
from forensic_viewer.core.atomic import atomic_write_bytes
from forensic_viewer.core.paths import project_root

from .settings import APPLICATION, ORGANIZATION

SCREENSHOT_TIMEOUT_S = 120.0
SCREENSHOT_SIZE = (1440, 760)
"""Screenshots have a fixed window size (not the remembered one), so they are reproducible."""
_POLL_MS = 40
_IDLE_POLLS = 3
"""Consecutive idle polls before grabbing: results still queued for delivery get painted first."""
VIEWS = ("ela", "grid", "heatmap")
ICON = Path("icons/hicolor/256x256/apps/forensic-viewer.png")


def icon_path() -> Path | None:
    """The application icon: package data when installed, ``resources/`` in a checkout."""
    package = Path(__file__).resolve().parents[1]
    for base in (package / "resources", project_root() / "resources"):
        if (base / ICON).is_file():
            return base / ICON
    return None


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (reused if one exists, e.g. under pytest-qt), configured for the viewer."""
    from . import _pyqtgraph  # noqa: F401 - configures pyqtgraph before any view exists

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Forensic Viewer")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("forensic-viewer")
    icon = icon_path()
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))
    return app


def create_window(
    paths: list[str] | None = None, view: str = "ela", size: tuple[int, int] | None = None
):
    from .viewer.main_window import MainWindow

    window = MainWindow()
    if view:
        window.show_tab("ela" if view == "heatmap" else view)  # or a registered analysis
    if view == "heatmap":
        window.set_heatmap(True, remember=False)
    if size is not None:
        window.resize(*size)
    window.show()
    if paths:
        window.open_paths(paths)
    return window


def wait_until_idle(window, timeout_s: float = SCREENSHOT_TIMEOUT_S) -> bool:
    """Run the event loop until the window has no background work left (or the timeout)."""
    app = QApplication.instance()
    deadline = time.monotonic() + timeout_s
    idle_polls = 0
    while time.monotonic() < deadline:
        app.processEvents()
        idle_polls = idle_polls + 1 if window.is_idle() else 0
        if idle_polls >= _IDLE_POLLS:
            app.processEvents()
            return True
        time.sleep(_POLL_MS / 1000)
    return False


def save_screenshot(window, output: str | Path) -> Path:
    """Grab the whole window (offscreen too) and write it as a PNG, atomically."""
    pixmap = window.grab()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not pixmap.save(buffer, "PNG"):
        raise OSError("Qt could not encode the screenshot as PNG")
    buffer.close()
    output = Path(output)
    atomic_write_bytes(output, bytes(data.data()))
    return output


def run_gui(paths: list[str], screenshot: str | None = None, view: str = "ela") -> int:
    """Open the viewer on ``paths``; with ``screenshot``, save the window to it and exit."""
    from forensic_viewer.core.analyses import REGISTRY

    if view not in VIEWS and view not in REGISTRY:
        raise ValueError(f"view must be one of {(*VIEWS, *REGISTRY)}, got {view!r}")
    from .excepthook import install_excepthook

    app = create_application()
    hook = install_excepthook()
    try:
        return _run(app, paths, screenshot, view)
    except Exception as exc:  # noqa: BLE001 - start-up failed: log it and tell the user
        hook.fatal(exc, wait=screenshot is None)
        return 1
    finally:
        hook.uninstall()


def _run(app, paths: list[str], screenshot: str | None, view: str) -> int:
    window = create_window(list(paths), view=view, size=SCREENSHOT_SIZE if screenshot else None)
    if screenshot is None:
        code = app.exec()
        return int(code)
    ok = wait_until_idle(window)
    if not ok:
        print(
            f"forensic-viewer: background work did not finish within {SCREENSHOT_TIMEOUT_S:.0f} s",
            file=sys.stderr,
        )
    try:
        written = save_screenshot(window, screenshot)
    except OSError as exc:
        print(f"forensic-viewer: screenshot not written: {exc}", file=sys.stderr)
        ok = False
    else:
        print(f"Screenshot saved to {written}", file=sys.stderr)
    # no close(): a screenshot run leaves the remembered window geometry alone
    window.verdicts.shutdown()
    window.session.shutdown()
    window.deleteLater()
    app.processEvents()
    return 0 if ok else 1


def main() -> int:  # pragma: no cover - convenience for `python -m forensic_viewer.ui.app`
    return run_gui(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

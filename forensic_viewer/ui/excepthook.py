"""Unhandled exceptions in the GUI: logged to a rotating file and shown, never a silent exit.

PySide6 hands an exception raised in a slot or a Qt virtual (paintEvent, ...) to
``sys.excepthook`` and the event loop carries on. The hook installed here writes the traceback to
``core.paths.user_log_dir()/forensic-viewer.log`` (rotating, a few MB at most) and shows a
non-modal dialog with a short message and where the log is. Exceptions in plain Python threads
(``threading.excepthook``) are logged and reported on the GUI thread. Background jobs of the
viewer already turn their errors into messages (workers.Worker), so this is the last line.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

from forensic_viewer.core.paths import user_log_dir

LOG_FILE_NAME = "forensic-viewer.log"
LOG_BYTES = 1_000_000
LOG_BACKUPS = 3
MAX_DIALOGS = 3
"""Dialogs shown per session at most: an error in a paint handler repeats on every paint."""
logger = logging.getLogger("forensic_viewer")


def setup_logging(folder: Path | None = None) -> Path | None:
    """Log to a rotating file in the user's log folder; returns its path (None if unwritable)."""
    folder = Path(folder) if folder is not None else user_log_dir()
    path = folder / LOG_FILE_NAME
    for handler in logger.handlers:
        if isinstance(handler, RotatingFileHandler) and Path(handler.baseFilename) == path:
            return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8", delay=False
        )
    except OSError as error:
        print(f"forensic-viewer: cannot write the log in {folder}: {error}", file=sys.stderr)
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return path


def short_message(exc_type, exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else ""
    summary = f"{exc_type.__name__}: {text}" if text else exc_type.__name__
    return summary if len(summary) <= 300 else summary[:297] + "..."


def show_error_dialog(summary: str, details: str, log_path: Path | None) -> QMessageBox:
    """Non-modal: the user reads it and carries on (the window stays usable)."""
    where = (
        f"The details were written to:\n{log_path}"
        if log_path
        else "The log could not be written; the details are below."
    )
    box = QMessageBox(
        QMessageBox.Icon.Critical,
        "Forensic Viewer: unexpected error",
        "Something went wrong inside Forensic Viewer. The window stays open and your evidence "
        f"files were not changed.\n\n{summary}\n\n{where}",
        parent=QApplication.activeWindow(),
    )
    box.setDetailedText(details)
    box.setModal(False)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box


class _Bridge(QObject):
    """Delivers reports from other threads to the GUI thread."""

    report = Signal(str, str)


class ExceptHook:
    """Callable installed as ``sys.excepthook``; ``show`` is the dialog (replaced in tests)."""

    def __init__(
        self,
        log_path: Path | None,
        show: Callable[[str, str, Path | None], object] = show_error_dialog,
    ) -> None:
        self.log_path = log_path
        self.show = show
        self.shown = 0
        self.reports: list[str] = []
        self.previous = sys.excepthook
        self.previous_thread_hook = threading.excepthook
        self._bridge = _Bridge()
        self._bridge.report.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def __call__(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        summary = short_message(exc_type, exc)
        logger.error("Unhandled exception\n%s", details.rstrip())
        print(details, file=sys.stderr, end="")
        self.report(summary, details)

    def thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        self(args.exc_type, args.exc_value, args.exc_traceback)

    def report(self, summary: str, details: str) -> None:
        app = QApplication.instance()
        if app is None:
            return
        if QThread.currentThread() is app.thread():
            self._show(summary, details)
        else:
            self._bridge.report.emit(summary, details)

    def _show(self, summary: str, details: str) -> None:
        self.reports.append(summary)
        if self.shown >= MAX_DIALOGS:
            return
        self.shown += 1
        try:
            self.show(summary, details, self.log_path)
        except Exception:  # noqa: BLE001 - the hook must never raise itself
            logger.exception("the error dialog could not be shown")

    def fatal(self, exc: BaseException, wait: bool = True) -> None:
        """An error that ends the GUI before its event loop runs (start-up): logged, printed and
        shown in a dialog that waits for the user (``wait``; not in scripted runs such as
        ``--screenshot``), so a launch from a desktop menu never ends silently."""
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        summary = short_message(type(exc), exc)
        logger.critical("Forensic Viewer could not start\n%s", details.rstrip())
        print(details, file=sys.stderr, end="")
        self.reports.append(summary)
        try:
            box = self.show(summary, details, self.log_path)
            interactive = wait and QApplication.platformName() != "offscreen"
            if isinstance(box, QMessageBox) and interactive:
                box.exec()
        except Exception:  # noqa: BLE001 - the hook must never raise itself
            logger.exception("the error dialog could not be shown")

    def uninstall(self) -> None:
        """Restore the previous hooks and close the log file (the GUI has ended)."""
        if sys.excepthook is self:
            sys.excepthook = self.previous
        if threading.excepthook == self.thread_hook:
            threading.excepthook = self.previous_thread_hook
        for handler in list(logger.handlers):
            ours = isinstance(handler, RotatingFileHandler) and self.log_path is not None
            if ours and Path(handler.baseFilename) == self.log_path:
                logger.removeHandler(handler)
                handler.close()


def install_excepthook(
    log_folder: Path | None = None,
    show: Callable[[str, str, Path | None], object] = show_error_dialog,
) -> ExceptHook:
    """Set up the log file and install the hook for the GUI thread and Python threads."""
    hook = ExceptHook(setup_logging(log_folder), show)
    sys.excepthook = hook
    threading.excepthook = hook.thread_hook
    return hook

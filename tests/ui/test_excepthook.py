"""Unhandled GUI exceptions: logged to the rotating log, a dialog says so, the app goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer

from forensic_viewer.core.paths import user_log_dir
from forensic_viewer.ui import excepthook
from forensic_viewer.ui.excepthook import install_excepthook, logger, show_error_dialog

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hook(tmp_path):
    shown: list[tuple[str, str, Path | None]] = []
    installed = install_excepthook(tmp_path / "logs", show=lambda *args: shown.append(args))
    installed.shown_calls = shown
    yield installed
    installed.uninstall()
    for handler in list(logger.handlers):
        if isinstance(handler, RotatingFileHandler):
            logger.removeHandler(handler)
            handler.close()


@pytest.mark.qt_no_exception_capture
def test_exception_in_a_slot_is_logged_and_shown(qtbot, hook, tmp_path):
    def broken_slot():
        raise RuntimeError("the slot broke\nsecond line")

    assert sys.excepthook is hook
    QTimer.singleShot(0, broken_slot)
    qtbot.waitUntil(lambda: bool(hook.shown_calls), timeout=5000)
    summary, details, log_path = hook.shown_calls[0]
    assert summary == "RuntimeError: the slot broke"
    assert "in broken_slot" in details and "RuntimeError: the slot broke" in details
    assert log_path == tmp_path / "logs" / "forensic-viewer.log"
    for handler in logger.handlers:
        handler.flush()
    text = log_path.read_text(encoding="utf-8")
    assert "ERROR forensic_viewer: Unhandled exception" in text and "in broken_slot" in text
    # the event loop goes on
    ticked = []
    QTimer.singleShot(0, lambda: ticked.append(1))
    qtbot.waitUntil(lambda: ticked == [1], timeout=2000)


def test_exception_in_a_python_thread_is_reported_on_the_gui_thread(qtbot, hook):
    def work():
        raise ValueError("thread failed")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: bool(hook.shown_calls), timeout=5000)
    assert hook.shown_calls[0][0] == "ValueError: thread failed"


def test_repeated_errors_show_a_bounded_number_of_dialogs(hook):
    for index in range(5):
        try:
            raise KeyError(index)
        except KeyError:
            hook(*sys.exc_info())
    assert len(hook.shown_calls) == excepthook.MAX_DIALOGS == 3
    assert hook.reports == [f"KeyError: {i}" for i in range(5)]


def test_the_dialog_is_non_modal_and_names_the_log(qtbot, tmp_path):
    box = show_error_dialog("OSError: disk full", "Traceback ...", tmp_path / "x.log")
    assert box.isVisible() and not box.isModal()
    assert "OSError: disk full" in box.text() and str(tmp_path / "x.log") in box.text()
    assert "evidence files were not changed" in box.text()
    assert box.detailedText() == "Traceback ..."
    box.close()


def test_default_log_folder_is_the_user_log_dir(tmp_path):
    path = excepthook.setup_logging()
    try:
        assert path == user_log_dir() / "forensic-viewer.log" and path.is_file()
        assert str(path).startswith(os.environ["XDG_STATE_HOME"])  # isolated by conftest
    finally:
        for handler in list(logger.handlers):
            if isinstance(handler, RotatingFileHandler):
                logger.removeHandler(handler)
                handler.close()


def test_the_real_app_shows_the_dialog_and_stays_up(tmp_path):
    """A separate process with the hook run_gui installs: a slot raises, the window stays."""
    script = textwrap.dedent(
        """
        import sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication, QMessageBox
        from forensic_viewer.ui.app import create_application, create_window
        from forensic_viewer.ui.excepthook import install_excepthook

        app = create_application()
        install_excepthook()
        window = create_window([])

        def boom():
            raise ZeroDivisionError("division in a slot")

        def check():
            boxes = [w for w in QApplication.topLevelWidgets()
                     if isinstance(w, QMessageBox) and w.isVisible()]
            print("alive", window.isVisible(), len(boxes), boxes[0].text().splitlines()[2])
            app.quit()

        QTimer.singleShot(50, boom)
        QTimer.singleShot(400, check)
        sys.exit(app.exec())
        """
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "alive True 1 ZeroDivisionError: division in a slot"
    log = Path(env["XDG_STATE_HOME"]) / "forensic-viewer" / "logs" / "forensic-viewer.log"
    assert "ZeroDivisionError: division in a slot" in log.read_text(encoding="utf-8")


def test_run_gui_installs_the_hook_and_reports_a_failed_start(qtbot, monkeypatch, tmp_path):
    from forensic_viewer.ui import app as app_module

    shown = []
    real_install = excepthook.install_excepthook
    installed = []

    def install(*args, **kwargs):
        hook = real_install(tmp_path / "logs", show=lambda *a: shown.append(a))
        installed.append(hook)
        return hook

    def broken_window(*args, **kwargs):
        raise RuntimeError("no window today")

    monkeypatch.setattr(excepthook, "install_excepthook", install)
    monkeypatch.setattr(app_module, "create_window", broken_window)
    previous = sys.excepthook
    assert app_module.run_gui([], screenshot=str(tmp_path / "shot.png")) == 1
    assert [args[0] for args in shown] == ["RuntimeError: no window today"]
    assert shown[0][2] == tmp_path / "logs" / "forensic-viewer.log"
    log = (tmp_path / "logs" / "forensic-viewer.log").read_text(encoding="utf-8")
    assert "could not start" in log and "RuntimeError: no window today" in log
    assert sys.excepthook is previous and installed[0].previous is previous  # uninstalled
    assert not (tmp_path / "shot.png").exists()


def test_the_log_rotates_and_keeps_a_few_files(tmp_path):
    level, propagate = logger.level, logger.propagate
    path = excepthook.setup_logging(tmp_path / "logs")
    logger.propagate = False  # 5 MB of records stay out of pytest's log capture
    try:
        line = "x" * 10_000
        for _ in range(excepthook.LOG_BYTES * (excepthook.LOG_BACKUPS + 2) // len(line)):
            logger.info(line)
        names = sorted(p.name for p in path.parent.iterdir())
        expected = [path.name] + [f"{path.name}.{i}" for i in range(1, excepthook.LOG_BACKUPS + 1)]
        assert names == sorted(expected)
        assert all(p.stat().st_size <= excepthook.LOG_BYTES for p in path.parent.iterdir())
    finally:
        logger.setLevel(level)
        logger.propagate = propagate
        for handler in list(logger.handlers):
            if isinstance(handler, RotatingFileHandler):
                logger.removeHandler(handler)
                handler.close()

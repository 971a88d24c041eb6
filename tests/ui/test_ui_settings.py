"""Remembered settings survive re-creating the window; start-up stays light (no torch)."""
# ruff: noqa: F811 - pytest fixtures imported from uihelp are parameters of the tests

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from PySide6.QtCore import QSettings
from uihelp import images, no_bundled_models, wait_idle  # noqa: F401

from forensic_viewer.ui.settings import AppSettings
from forensic_viewer.ui.viewer.document import ElaSettings
from forensic_viewer.ui.viewer.main_window import MainWindow


def test_settings_persist_across_window_recreation(
    qtbot, isolated_user_dirs, images, no_bundled_models
):
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    qtbot.waitExposed(first)
    first.open_paths([images[0]])
    wait_idle(qtbot, first)
    first.controls.quality_spin.setValue(77)
    first.controls.auto_brightness.setChecked(False)
    first.controls.gain.setValue(33.0)
    first.controls.grayscale.setChecked(True)
    first.set_layout_mode("blend")
    first.controls.opacity.setValue(35)
    first.grid.set_qualities([55, 65, 75])
    first.resize(701, 555)  # within the offscreen screen (800 x 800)
    qtbot.wait(10)
    first.close()

    # what is on disk is the isolated test file, not the user's
    store = AppSettings().store
    assert store.fileName().startswith(str(isolated_user_dirs / "qsettings"))
    assert os.path.isfile(store.fileName())

    second = MainWindow()
    qtbot.addWidget(second)
    second.show()
    qtbot.waitExposed(second)
    expected = ElaSettings(quality=77, auto_brightness=False, gain=33.0, grayscale=True)
    assert second.session.settings == expected
    assert second.controls.settings() == expected
    assert second.views.layout_mode == "blend" and second.controls.layout_mode() == "blend"
    assert abs(second.views.opacity - 0.35) < 1e-9
    assert second.controls.opacity.value() == 35
    assert second.grid.qualities == [55, 65, 75]
    assert (second.width(), second.height()) == (701, 555)
    assert second.app_settings.recent_files() == [str(images[0])]
    second.close()


def test_damaged_settings_fall_back_to_defaults(qtbot, no_bundled_models):
    store = AppSettings().store
    store.setValue("ela/quality", "ninety")
    store.setValue("ela/gain", "-5")
    store.setValue("view/layout", "sideways")
    store.setValue("grid/qualities", "a, b")
    store.setValue("files/recent", "{not json")
    store.sync()
    settings = AppSettings()
    assert settings.ela_settings() == ElaSettings(quality=90, gain=1.0)
    assert settings.layout_mode() == "side"
    assert settings.grid_qualities() == [60, 70, 80, 90, 95, 100]
    assert settings.recent_files() == []
    assert QSettings.defaultFormat() == QSettings.Format.IniFormat


def run_python(code: str, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_start_up_does_not_import_torch(tmp_path):
    result = run_python(
        """
        import sys
        from forensic_viewer.ui.app import create_application, create_window
        app = create_application()
        window = create_window([])
        app.processEvents()
        # Torch-free ml modules (model file header, verdict wording, validated domains) may load
        # before the first verdict; torch itself (about a second) must not.
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision"))
        print("visible" if window.isVisible() else "hidden", heavy)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "visible []"


def test_many_signals_do_not_exhaust_the_true_singleton(tmp_path):
    """PySide6 6.12 takes a reference to True per emit(); forensic_viewer.ui pins it."""
    result = run_python(
        """
        from PySide6.QtCore import QObject, Signal
        import forensic_viewer.ui

        class Emitter(QObject):
            ping = Signal(int)

        emitter = Emitter()
        emitter.ping.connect(lambda value: None)
        for i in range(200_000):
            emitter.ping.emit(i)
        print("done")
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"


def test_the_window_icon_comes_from_the_resources(qtbot):
    from pathlib import Path

    from forensic_viewer.ui.app import create_application, icon_path

    root = Path(__file__).resolve().parents[2]
    assert icon_path() == root / "resources/icons/hicolor/256x256/apps/forensic-viewer.png"
    icon = create_application().windowIcon()
    assert not icon.isNull()
    assert [(s.width(), s.height()) for s in icon.availableSizes()] == [(256, 256)]

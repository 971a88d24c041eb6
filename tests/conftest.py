"""Shared fixtures. Tests never touch the user's settings, caches or logs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CASIA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "casia1"
CASIA = Path(os.environ.get("FORENSIC_VIEWER_CASIA", CASIA))


def casia_files(label: str = "*", step: int = 1) -> list[Path]:
    folder = {"authentic": "authentic", "tampered": "tampered"}.get(label, "*")
    files = sorted(p for p in CASIA.glob(f"{folder}/*") if p.suffix.lower() in (".jpg", ".jpeg"))
    return files[::step]


needs_casia = pytest.mark.skipif(
    not (CASIA / "MANIFEST.tsv").is_file(),
    reason=f"CASIA v1.0 sample set not found at {CASIA} (set FORENSIC_VIEWER_CASIA)",
)


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Point XDG config/cache/data dirs (and so QSettings) at a temporary folder."""
    base = tmp_path_factory.mktemp("userdirs")
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        (base / name).mkdir()
        monkeypatch.setenv(name, str(base / name))
    monkeypatch.setenv("FORENSIC_VIEWER_HOME", str(base))
    yield base


@pytest.fixture(autouse=True)
def isolated_qsettings(isolated_user_dirs, request):
    """QSettings go to a temporary .ini file (only when Qt is already in use by the test)."""
    import sys

    if "PySide6" not in sys.modules:
        yield
        return
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(isolated_user_dirs / "qsettings")
    )
    yield

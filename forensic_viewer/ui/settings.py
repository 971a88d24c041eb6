"""Remembered settings (QSettings, INI file in the user's config folder) and recent files.

INI files return every value as a string, so each getter converts and validates; a damaged or
hand-edited file falls back to the defaults instead of breaking start-up.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from .viewer.document import ElaSettings

ORGANIZATION = "forensic-viewer"
APPLICATION = "forensic-viewer"
MAX_RECENT = 12
DEFAULT_GRID_QUALITIES = (60, 70, 80, 90, 95, 100)
AUTO_SCALES = ("percentile", "classic")


def _bool(value, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
    return default


def _choice(value, default: str, choices: tuple[str, ...]) -> str:
    return value if isinstance(value, str) and value in choices else default


def _number(value, default: float, lo: float, hi: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return min(max(number, lo), hi) if number == number else default


def parse_qualities(text: str) -> list[int]:
    """'60, 70 80;90' -> [60, 70, 80, 90]. Raises ValueError naming the bad entry."""
    qualities: list[int] = []
    for token in text.replace(";", ",").replace(" ", ",").split(","):
        if not token.strip():
            continue
        try:
            quality = int(token)
        except ValueError:
            raise ValueError(f"'{token}' is not a whole number") from None
        if not 1 <= quality <= 100:
            raise ValueError(f"{quality} is outside 1-100")
        if quality not in qualities:
            qualities.append(quality)
    if not qualities:
        raise ValueError("no quality given")
    return qualities


class AppSettings:
    """Typed access to the persisted settings. Tests isolate the INI file via tests/conftest.py."""

    def __init__(self) -> None:
        self.store = QSettings(
            QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION
        )

    def sync(self) -> None:
        self.store.sync()

    @property
    def file_name(self) -> str:
        return self.store.fileName()

    # ---- ELA ---------------------------------------------------------------------------------
    def ela_settings(self) -> ElaSettings:
        default = ElaSettings()
        value = self.store.value
        return ElaSettings(
            quality=int(_number(value("ela/quality"), default.quality, 1, 100)),
            auto_brightness=_bool(value("ela/auto_brightness"), default.auto_brightness),
            gain=_number(value("ela/gain"), default.gain, 1.0, 255.0),
            grayscale=_bool(value("ela/grayscale"), default.grayscale),
            auto_scale=_choice(value("ela/auto_scale"), default.auto_scale, AUTO_SCALES),
        )

    def set_ela_settings(self, settings: ElaSettings) -> None:
        self.store.setValue("ela/quality", settings.quality)
        self.store.setValue("ela/auto_brightness", settings.auto_brightness)
        self.store.setValue("ela/gain", settings.gain)
        self.store.setValue("ela/grayscale", settings.grayscale)
        self.store.setValue("ela/auto_scale", settings.auto_scale)

    # ---- view --------------------------------------------------------------------------------
    def layout_mode(self) -> str:
        mode = self.store.value("view/layout", "side")
        return mode if mode in ("side", "single", "blend") else "side"

    def set_layout_mode(self, mode: str) -> None:
        self.store.setValue("view/layout", mode)

    def opacity(self) -> float:
        return _number(self.store.value("view/opacity"), 0.5, 0.0, 1.0)

    def set_opacity(self, opacity: float) -> None:
        self.store.setValue("view/opacity", float(opacity))

    def view_tab(self) -> str:
        from forensic_viewer.core.analyses import REGISTRY

        tab = self.store.value("view/tab", "ela")
        return tab if tab in ("ela", "grid") or tab in REGISTRY else "ela"

    def set_view_tab(self, tab: str) -> None:
        self.store.setValue("view/tab", tab)

    def grid_qualities(self) -> list[int]:
        try:
            return parse_qualities(str(self.store.value("grid/qualities", "")))
        except ValueError:
            return list(DEFAULT_GRID_QUALITIES)

    def set_grid_qualities(self, qualities: list[int]) -> None:
        self.store.setValue("grid/qualities", ", ".join(str(q) for q in qualities))

    # ---- network -----------------------------------------------------------------------------
    def model_path(self) -> str | None:
        """The model chosen last (a weights file path), or None for the shipped default."""
        value = self.store.value("model/path", "")
        return str(value) if value else None

    def set_model_path(self, path: str | Path | None) -> None:
        self.store.setValue("model/path", "" if path is None else str(path))

    def heatmap_on(self) -> bool:
        return _bool(self.store.value("model/heatmap"), False)

    def set_heatmap_on(self, on: bool) -> None:
        self.store.setValue("model/heatmap", bool(on))

    def heatmap_opacity(self) -> float:
        return _number(self.store.value("model/heatmap_opacity"), 0.6, 0.0, 1.0)

    def set_heatmap_opacity(self, opacity: float) -> None:
        self.store.setValue("model/heatmap_opacity", float(opacity))

    def sort_by_verdict(self) -> bool:
        return _bool(self.store.value("model/sort_by_verdict"), False)

    def set_sort_by_verdict(self, on: bool) -> None:
        self.store.setValue("model/sort_by_verdict", bool(on))

    # ---- files -------------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        try:
            items = json.loads(str(self.store.value("files/recent", "[]")))
        except json.JSONDecodeError:
            return []
        return [str(p) for p in items if isinstance(p, str)][:MAX_RECENT]

    def add_recent(self, path: str | Path) -> None:
        path = str(Path(path).absolute())
        items = [path] + [p for p in self.recent_files() if p != path]
        # JSON in one string: INI lists of one item come back as a plain string otherwise
        self.store.setValue("files/recent", json.dumps(items[:MAX_RECENT]))

    def clear_recent(self) -> None:
        self.store.setValue("files/recent", "[]")

    def last_dir(self, kind: str) -> str:
        """Last folder used for ``kind`` ('open' or 'export'); '' when unknown or gone."""
        folder = str(self.store.value(f"files/last_{kind}_dir", "") or "")
        return folder if folder and Path(folder).is_dir() else ""

    def set_last_dir(self, kind: str, folder: str | Path) -> None:
        self.store.setValue(f"files/last_{kind}_dir", str(folder))

    # ---- window ------------------------------------------------------------------------------
    def window_geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        value = self.store.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)
        self.store.setValue("window/state", state)

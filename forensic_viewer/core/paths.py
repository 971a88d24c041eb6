"""Per-user folders (XDG on Linux), without Qt, so core, ml and the CLI agree with the GUI."""

from __future__ import annotations

import os
from pathlib import Path

APP_DIR_NAME = "forensic-viewer"


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable)
    base = Path(value) if value and Path(value).is_absolute() else Path.home() / fallback
    return base / APP_DIR_NAME


def user_config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


def user_cache_dir() -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache")


def user_data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share")


def user_log_dir() -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state") / "logs"


def user_models_dir() -> Path:
    """Where trained models are saved by default and where the Model menu looks."""
    return user_data_dir() / "models"


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def bundled_models_dir() -> Path:
    """The shipped default model: ``models/`` in a checkout, package data when installed."""
    package_copy = Path(__file__).resolve().parents[1] / "models"
    if package_copy.is_dir():
        return package_copy
    return project_root() / "models"

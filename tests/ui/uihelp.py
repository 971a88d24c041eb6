"""Shared fixtures and helpers for the viewer tests (imported by the test modules).

Not a conftest.py: tests/ has no __init__.py, so a second conftest module would clash with
tests/conftest.py by name.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from urllib.parse import quote_from_bytes

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QByteArray, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from forensic_viewer.ui.settings import AppSettings
from forensic_viewer.ui.viewer.document import ElaSettings
from forensic_viewer.ui.viewer.main_window import MainWindow

IDLE_TIMEOUT_MS = 20_000


def photo(width: int = 96, height: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth gradient with texture: compresses like a photo, differs per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack(
        [
            x * 255 // max(width - 1, 1),
            y * 255 // max(height - 1, 1),
            (x + y) * 127 // max(width + height - 2, 1),
        ],
        axis=2,
    )
    noise = rng.integers(-12, 13, size=(height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def write_jpeg(path: Path, array: np.ndarray, quality: int = 85, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, "JPEG", quality=quality, **kwargs)
    return path


def jpeg_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def file_url(path: Path) -> QUrl:
    """A file URL as file managers send it: the path's bytes, percent-encoded."""
    encoded = b"file://" + quote_from_bytes(os.fsencode(Path(path).absolute())).encode("ascii")
    return QUrl.fromEncoded(QByteArray(encoded))


def drop(window: MainWindow, paths: list[Path]) -> tuple[bool, bool]:
    """Simulate dragging ``paths`` onto the window: DragEnter, then Drop. Returns acceptances."""
    mime = QMimeData()
    mime.setUrls([file_url(p) for p in paths])
    enter = QDragEnterEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    dropped = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    if enter.isAccepted():
        QApplication.sendEvent(window, dropped)
    return enter.isAccepted(), dropped.isAccepted()


def wait_idle(qtbot, window: MainWindow, timeout: int = IDLE_TIMEOUT_MS) -> None:
    qtbot.waitUntil(window.is_idle, timeout=timeout)


def png_pixels(data_or_path) -> np.ndarray:
    source = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
    with Image.open(source) as image:
        return np.asarray(image)


def hide_bundled_models(monkeypatch, folder: Path) -> Path:
    """Windows start without the shipped model (tests that need one save a small one)."""
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr("forensic_viewer.ui.network.model_catalog.bundled_dir", lambda: folder)
    return folder


@pytest.fixture
def no_bundled_models(tmp_path_factory, monkeypatch) -> Path:
    return hide_bundled_models(monkeypatch, tmp_path_factory.mktemp("no-bundled-models"))


def shown_window(qtbot, monkeypatch, tmp_path_factory) -> MainWindow:
    """A shown main window without bundled models, on the classic ELA auto scale."""
    hide_bundled_models(monkeypatch, tmp_path_factory.mktemp("no-bundled-models"))
    # the classic auto scale, so shown pixels compare with the exact recipe; the default
    # (99.5th percentile) is tested in test_ui_clarity.py
    AppSettings().set_ela_settings(ElaSettings(auto_scale="classic"))
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def window(qtbot, monkeypatch, tmp_path_factory):
    win = shown_window(qtbot, monkeypatch, tmp_path_factory)
    yield win
    win.close()


@pytest.fixture
def images(tmp_path) -> list[Path]:
    """Three small JPEG evidence files in their own folder."""
    folder = tmp_path / "evidence"
    return [
        write_jpeg(folder / f"img{i}.jpg", photo(96 + 16 * i, 64, seed=i), quality=80 + 5 * i)
        for i in range(3)
    ]


# ---- the network (verdict, heatmap and model menu tests) ---------------------------------------
TINY_SIZE = 32
"""Tiny networks (ElaCnn with 32 x 32 inputs, 1.2 M parameters): fast, never shipped."""


def tiny_recipe(kind: str = "tiles", name: str | None = None):
    from dataclasses import replace

    from forensic_viewer.ml.preprocess import CLASSIC, GHOST

    if kind == "tiles":  # the shipped default's recipe, scaled down
        return replace(GHOST, name=name or "tiny-tiles", size=TINY_SIZE, tile_stride=16)
    return replace(CLASSIC, name=name or "tiny-resize", size=TINY_SIZE)


def save_tiny_model(path: Path, kind: str = "tiles", seed: int = 0, **card_fields) -> Path:
    """Random weights saved as a model file with a card (``path`` without suffix)."""
    import torch

    from forensic_viewer.ml.model import ElaCnn
    from forensic_viewer.ml.modelfile import ModelCard, save_model

    recipe = tiny_recipe(kind, name=card_fields.pop("recipe_name", None))
    torch.manual_seed(seed)
    network = ElaCnn(input_size=TINY_SIZE)
    # spread the outputs so different images get clearly different verdicts
    with torch.no_grad():
        network.classifier[-1].weight.mul_(40.0)
    card = ModelCard(name=path.name, recipe=recipe.as_dict(), **card_fields)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_model(path, network, card)


def reference_prediction(model_path: Path, image_path: Path):
    """The verdict computed without the window: Predictor.predict on the decoded pixels."""
    from forensic_viewer.core.images import load_image
    from forensic_viewer.ml.predict import Predictor

    return Predictor(model_path).predict(load_image(image_path).pixels)


class VerdictGate:
    """Holds every verdict job at its start until ``release()``. A held job then ignores cancel,
    as if its result had already been computed when the user moved on (``honour_cancel``: it
    sees a cancel requested meanwhile, at its first network batch)."""

    def __init__(self, monkeypatch, honour_cancel: bool = False) -> None:
        import threading

        from forensic_viewer.ui.network import verdict_jobs

        self.entered = threading.Event()
        self.released = threading.Event()
        self.calls: list[int] = []
        real = verdict_jobs.compute_verdict

        def gated(predictor, doc_id, *args, **kwargs):
            self.calls.append(doc_id)
            self.entered.set()
            if not self.released.wait(20):
                raise TimeoutError("the test never released the verdict gate")
            if not honour_cancel:
                kwargs["cancel"] = None
            return real(predictor, doc_id, *args, **kwargs)

        monkeypatch.setattr(verdict_jobs, "compute_verdict", gated)

    def wait_entered(self, qtbot, timeout: int = 20_000) -> None:
        qtbot.waitUntil(self.entered.is_set, timeout=timeout)

    def release(self) -> None:
        self.released.set()

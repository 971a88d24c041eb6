"""Pieces the localiser tests share: made-up camera photos, one torch thread, and a background
loader whose first take waits for the workers (so a short run surely gets fresh items)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


def made_up_photos(folder: Path, count: int = 3) -> Path:
    """``count`` textured 320 x 240 'camera' JPEGs (the generator needs room for a region)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        base = rng.integers(0, 255, (30, 40, 3), np.uint8)
        pixels = np.asarray(Image.fromarray(base).resize((320, 240), Image.BILINEAR))
        Image.fromarray(pixels).save(folder / f"cam{index}.jpg", quality=95)
    return folder


@pytest.fixture
def one_torch_thread():
    """Two OpenMP threads on a busy 2-core machine spin at barriers (tens of times slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def wait_for_fresh_items(monkeypatch, seconds: float = 120) -> None:
    """Make ``train_localiser``'s loader wait for its first items on its first take."""
    from forensic_viewer.ml import localiser_train

    class WaitingFeeder(localiser_train.BackgroundFeeder):
        def take(self, limit=256):
            deadline = time.monotonic() + seconds
            while self.received == 0 and self._queue.empty() and time.monotonic() < deadline:
                time.sleep(0.05)
            return super().take(limit)

    monkeypatch.setattr(localiser_train, "BackgroundFeeder", WaitingFeeder)

"""The held-out split of the camera originals: the makes the detection benchmark scores on.

Training on generated data must leave these makes out (``training_photos``), so that the
benchmark's numbers are on cameras the model never saw. The list is fixed here and in
``bench/README.md``; changing it invalidates every number measured on it.
"""

from __future__ import annotations

from collections.abc import Sequence

from .synthetic import Photo

HELD_OUT_MAKES = ("casio", "htc", "kodak", "nokia", "panasonic", "pentax")
"""36 of the 104 photos in shared/datasets/camera-originals (35%): two phone makers and four
camera makers, chosen so the larger makes (sony, hewlett-packard, apple, minolta) stay for
training."""


def is_held_out(photo: Photo) -> bool:
    return photo.make.lower() in HELD_OUT_MAKES


def held_out_photos(photos: Sequence[Photo]) -> list[Photo]:
    return [p for p in photos if is_held_out(p)]


def training_photos(photos: Sequence[Photo]) -> list[Photo]:
    """Photos a model may train on without leaking into the benchmark."""
    return [p for p in photos if not is_held_out(p)]

"""Tiles for the tile recipes: random 8-pixel-grid training crops with labels (from tampering
masks when the recipe asks for them), and the validation grid."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from .data import CachedInputs, Sample
from .preprocess import Recipe


def load_mask(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    """Boolean tampered-region mask (> 127), or None when unreadable or of another size."""
    try:
        with Image.open(path) as image:
            mask = np.asarray(image.convert("L")) > 127
    except (OSError, SyntaxError, ValueError):
        return None
    return mask if mask.shape == shape else None


def grid_origins(height: int, width: int, size: int) -> np.ndarray:
    """Every tile origin (y, x) on the 8-pixel JPEG block grid; (0, 0) for small images."""
    ys = np.arange(0, max(height - size, 0) // 8 * 8 + 1, 8)
    xs = np.arange(0, max(width - size, 0) // 8 * 8 + 1, 8)
    return np.stack(np.meshgrid(ys, xs, indexing="ij"), axis=-1).reshape(-1, 2)


def crop_tile(rendering: np.ndarray, y: int, x: int, size: int) -> np.ndarray:
    """size x size x 3 uint8 crop, zero-padded past the image edge (as preprocess.cut_tiles)."""
    patch = rendering[y : y + size, x : x + size]
    if patch.shape[:2] == (size, size):
        return patch
    tile = np.zeros((size, size, 3), dtype=np.uint8)
    tile[: patch.shape[0], : patch.shape[1]] = patch
    return tile


def mask_coverage(mask: np.ndarray, origins: np.ndarray, size: int) -> np.ndarray:
    """Fraction of each (zero-padded) size x size tile covered by the mask (integral image)."""
    integral = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    integral[1:, 1:] = mask.astype(np.int64).cumsum(0).cumsum(1)
    y0, x0 = origins[:, 0], origins[:, 1]
    y1 = np.minimum(y0 + size, mask.shape[0])
    x1 = np.minimum(x0 + size, mask.shape[1])
    inside = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    return inside / float(size * size)


def tile_labels(
    sample: Sample, shape: tuple[int, int], origins: np.ndarray, size: int, min_fraction: float
) -> np.ndarray:
    """Per origin: 1 tampered, 0 authentic, -1 ambiguous (ignored).

    With a mask, a tile is tampered when at least ``min_fraction`` of it is masked, authentic when
    none of it is, and ambiguous in between. Without one every tile gets the image's label.
    """
    mask = load_mask(sample.mask, shape) if sample.mask is not None else None
    if mask is None:
        return np.full(len(origins), sample.label, dtype=np.int64)
    coverage = mask_coverage(mask, origins, size)
    return np.where(coverage >= min_fraction, 1, np.where(coverage == 0, 0, -1)).astype(np.int64)


class TileSampler:
    """Random training tiles per epoch; images with masks draw half their tiles from the
    tampered region so the tile classes stay balanced."""

    def __init__(
        self, inputs: CachedInputs, size: int, min_fraction: float, use_masks: bool = True
    ) -> None:
        self.inputs = inputs
        self.size = size
        self.origins: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        for sample, rendering in zip(inputs.samples, inputs.arrays, strict=True):
            origins = grid_origins(rendering.shape[0], rendering.shape[1], size)
            labels = tile_labels(
                sample if use_masks else replace(sample, mask=None),
                rendering.shape[:2],
                origins,
                size,
                min_fraction,
            )
            self.origins.append(origins)
            self.labels.append(labels)

    def epoch(self, tiles_per_image: int, rng: np.random.Generator) -> np.ndarray:
        """Rows (image index, y, x, label), shuffled."""
        rows = []
        for index, (origins, labels) in enumerate(zip(self.origins, self.labels, strict=True)):
            usable = np.flatnonzero(labels >= 0)
            positive = np.flatnonzero(labels == 1)
            if usable.size == 0:
                continue
            has_mask = self.inputs.samples[index].mask is not None and positive.size > 0
            for k in range(tiles_per_image):
                pool = positive if has_mask and k % 2 == 0 else usable
                choice = pool[rng.integers(pool.size)]
                rows.append((index, *origins[choice], labels[choice]))
        table = np.array(rows, dtype=np.int64).reshape(-1, 4)
        return table[rng.permutation(len(table))]

    def batch(self, rows: np.ndarray, flips: np.ndarray) -> np.ndarray:
        """N x size x size x 3 uint8 tiles (flipped where asked: a 128-wide tile on the 8-grid
        keeps its block boundaries on the grid when mirrored)."""
        tiles = np.empty((len(rows), self.size, self.size, 3), dtype=np.uint8)
        for i, (index, y, x, _label) in enumerate(rows):
            tile = crop_tile(self.inputs.arrays[index], int(y), int(x), self.size)
            tiles[i] = tile[:, ::-1] if flips[i] else tile
        return tiles


def count_tiles(renderings: Sequence[np.ndarray], recipe: Recipe) -> int:
    from .preprocess import tile_origins

    size, stride = recipe.size, recipe.tile_stride
    return sum(len(tile_origins(*r.shape[:2], size, stride)) for r in renderings)


def iter_tile_batches(
    renderings: Sequence[np.ndarray], recipe: Recipe, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """All stride-grid tiles (preprocess.tile_origins) of every image, in order, as batches of
    N x size x size x 3 uint8 with the image index of each tile. Built lazily: the tiles of a
    large photo set would not fit in memory at once."""
    from .preprocess import tile_origins

    size = recipe.size
    tiles = np.empty((batch_size, size, size, 3), dtype=np.uint8)
    owners = np.empty(batch_size, dtype=np.int64)
    filled = 0
    for index, rendering in enumerate(renderings):
        for y, x in tile_origins(*rendering.shape[:2], size, recipe.tile_stride):
            tiles[filled] = crop_tile(rendering, y, x, size)
            owners[filled] = index
            filled += 1
            if filled == batch_size:
                yield tiles.copy(), owners.copy()
                filled = 0
    if filled:
        yield tiles[:filled].copy(), owners[:filled].copy()

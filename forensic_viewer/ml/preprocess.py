"""Network inputs built from core's exact ELA.

Two recipes share the network:

- ``classic``: the Keras notebook's input. ELA at quality 90 with auto brightness
  (255 / max_diff), resized to 128 x 128, divided by 255, RGB channels first.
  The resize filter is named explicitly: BICUBIC, which is what the notebook computes with any
  Pillow since 7.0 (2016-era Pillow defaulted to NEAREST). Bicubic averages, so it does not
  alias, but at 384 x 256 -> 128 x 128 it blurs away most of the 8 x 8 JPEG block structure.
- ``tiles``: the same ELA rendering at native resolution, cut into 128 x 128 tiles whose origins
  lie on the 8-pixel JPEG block grid; the network scores each tile and the image score aggregates
  them. This keeps block artefacts intact and yields a heatmap for free.
- ``ghost``: native-resolution tiles as above, but the three input channels are ELA differences at
  three qualities (70, 80, 90; the largest of the R, G, B differences) times a fixed gain, instead
  of one RGB ELA stretched per image by 255 / max_diff. The fixed gain keeps absolute error levels,
  and the three qualities trace where the image's own compression sits (the "JPEG ghost" idea):
  a region last saved near quality q changes least when re-saved at q. Same network, same
  29,520,034 parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from ..core.ela import ela, ela_difference, render

RESIZE_FILTERS = {"bicubic": Image.BICUBIC, "nearest": Image.NEAREST, "bilinear": Image.BILINEAR}


@dataclass(frozen=True)
class Recipe:
    name: str = "classic"
    quality: int = 90
    size: int = 128
    resize_filter: str = "bicubic"
    mode: str = "resize"
    """'resize': whole image resized to size x size; 'tiles': native-resolution tiles."""
    tile_stride: int = 64
    aggregate: str = "top2mean"
    """How tile scores become an image score (tiles mode): 'max', 'mean' or 'top2mean'."""
    channels: str = "rgb"
    """'rgb': the classic auto-brightness RGB ELA at ``quality``; 'ghost': one channel per quality
    in ``qualities`` (largest RGB difference times ``gain``)."""
    qualities: tuple[int, ...] = ()
    gain: float = 0.0
    tile_labels: str = "mask"
    """Training tiles of tampered images: 'mask' labels them from the tampering mask when one
    exists; 'image' gives every tile the image's label (the cue is global, e.g. re-compression)."""

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Recipe:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "qualities" in known:
            known["qualities"] = tuple(int(q) for q in known["qualities"])
        return cls(**known)

    @property
    def cache_key(self) -> str:
        """Identifies the native-resolution rendering this recipe feeds the network."""
        if self.channels == "ghost":
            qualities = "-".join(str(q) for q in self.qualities)
            return f"ghost-q{qualities}-g{self.gain:g}"
        return f"rgb-q{self.quality}-auto"


CLASSIC = Recipe()
TILES = Recipe(name="tiles", mode="tiles")
GHOST = Recipe(
    name="ghost",
    mode="tiles",
    aggregate="mean",
    channels="ghost",
    qualities=(70, 80, 90),
    gain=8.0,
    tile_labels="image",
)
RECIPES = {"classic": CLASSIC, "tiles": TILES, "ghost": GHOST}


def ela_rendering(
    rgb: np.ndarray, recipe: Recipe = CLASSIC, workers: int | None = None
) -> np.ndarray:
    """The network's native-resolution view of an image, uint8 H x W x 3.

    For 'rgb' channels this is exactly the classic recipe's auto-brightness ELA image.
    ``workers`` caps the ELA's parallel strips (default: one per core).
    """
    if recipe.channels == "ghost":
        planes = [
            render(ela_difference(rgb, q, workers=workers), scale=recipe.gain, grayscale=True)[0]
            for q in recipe.qualities
        ]
        return np.ascontiguousarray(np.stack(planes, axis=2))
    if recipe.channels != "rgb":
        raise ValueError(f"unknown recipe channels {recipe.channels!r}")
    return ela(rgb, recipe.quality, scale="auto", workers=workers).rendering


def to_chw_float(array_hwc: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array_hwc.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)


def classic_input(rgb: np.ndarray, recipe: Recipe = CLASSIC) -> np.ndarray:
    """3 x size x size float32 in [0, 1]: the Keras notebook's network input."""
    return resized_input(ela_rendering(rgb, recipe), recipe)


def resized_input(rendering: np.ndarray, recipe: Recipe) -> np.ndarray:
    """The 'resize' recipe's network input from an ELA rendering (so one ELA can feed both the
    verdict and the heatmap)."""
    image = Image.fromarray(rendering)
    resized = image.resize((recipe.size, recipe.size), RESIZE_FILTERS[recipe.resize_filter])
    return to_chw_float(np.asarray(resized))


def tile_origins(height: int, width: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners (y, x) of tiles covering the image, on the 8-pixel block grid.

    The last row and column are pushed back towards the image edge, rounded down to the block
    grid, so at most 7 edge rows or columns stay uncovered (``TileHeatmap.upsample`` fills them
    from their neighbours); images smaller than a tile get one zero-padded tile.
    """

    def axis(length: int) -> list[int]:
        if length <= size:
            return [0]
        last = ((length - size) // 8) * 8
        starts = list(range(0, last + 1, stride))
        if starts[-1] != last:
            starts.append(last)
        return starts

    return [(y, x) for y in axis(height) for x in axis(width)]


def cut_tiles(rendering: np.ndarray, size: int, stride: int) -> tuple[np.ndarray, list]:
    """N x 3 x size x size float32 tiles and their origins."""
    height, width = rendering.shape[:2]
    origins = tile_origins(height, width, size, stride)
    tiles = np.zeros((len(origins), 3, size, size), dtype=np.float32)
    chw = to_chw_float(rendering)
    for i, (y, x) in enumerate(origins):
        patch = chw[:, y : y + size, x : x + size]
        tiles[i, :, : patch.shape[1], : patch.shape[2]] = patch
    return tiles, origins


def aggregate_tiles(scores: np.ndarray, how: str) -> float:
    """Image-level P(tampered) from per-tile probabilities."""
    if scores.size == 0:
        return 0.0
    if how == "max":
        return float(scores.max())
    if how == "mean":
        return float(scores.mean())
    if how == "top2mean":
        return float(np.sort(scores)[-2:].mean())
    raise ValueError(f"unknown tile aggregation {how!r}")

"""Per-8x8-block inputs of the localiser, read from a JPEG's own luma DCT coefficients.

Everything is computed from the quantized Y coefficients that ``jpeglib`` reads without decoding
the image, so the features sit exactly on the file's block grid and cost no re-encoding:

- ``dct``: the 64 quantized coefficients of each block, clipped to +-20 (int8). Double
  compression leaves periodic gaps and peaks in their histograms (what CAT-Net reads).
- ``residual``: JPEG re-quantisation residuals at IJG qualities ``RESIDUAL_QUALITIES`` computed in
  the DCT domain: dequantise with the file's table, requantise with the quality-q table, and take
  the residual energy per block. By Parseval (the 8x8 DCT is orthonormal) that is the pixel-domain
  ELA energy of the block at quality q, before rounding and clipping: local compression evidence
  by construction, at numpy cost instead of five 12 MP encodes. Log-energies minus the image's
  median, so the global compression level cancels and only local differences remain.
- ``phase``: mean absolute luma gradient at each of the 8 column (and 8 row) phases inside the
  block, from the pixels the coefficients decode to; an earlier, misaligned JPEG grid shows as a
  peak at a phase other than the block edge. Log-profile relative to the block's own mean, plus
  one channel with the block's overall gradient level relative to the image median.

Only JPEG files have these features: for anything else ``read_block_features`` raises
``NotJpegError`` and the localiser's verdict is 'inconclusive'.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import ForensicError
from ..core.jpeg import STD_LUMINANCE, ijg_table

DCT_CLIP = 20
RESIDUAL_QUALITIES = (60, 70, 80, 90, 95)
PHASE_CHANNELS = 17  # 8 column phases, 8 row phases, 1 overall level
DENSE_CHANNELS = len(RESIDUAL_QUALITIES) + PHASE_CHANNELS
QTABLE_CHANNELS = 64
_EPS = 1e-3


class NotJpegError(ForensicError):
    """The localiser reads JPEG DCT coefficients; this input has none."""


def _dct_matrix() -> np.ndarray:
    """Orthonormal 8-point DCT-II matrix M: coefficients = M @ block @ M.T."""
    k = np.arange(8)[:, None]
    n = np.arange(8)[None, :]
    matrix = np.cos((2 * n + 1) * k * np.pi / 16) * np.sqrt(2 / 8)
    matrix[0] /= np.sqrt(2)
    return matrix.astype(np.float32)


DCT_MATRIX = _dct_matrix()
_IJG = {q: ijg_table(STD_LUMINANCE, q).reshape(8, 8).astype(np.float32) for q in range(1, 101)}


@dataclass
class BlockFeatures:
    """Features of one image on its 8x8 luma block grid (``rows`` x ``cols`` blocks)."""

    dct: np.ndarray
    """int8 rows x cols x 64, quantized coefficients clipped to +-DCT_CLIP (row-major u, v)."""
    dense: np.ndarray
    """float16 rows x cols x DENSE_CHANNELS: residual log-energies, then phase features."""
    qtable: np.ndarray
    """float32 64: the luma quantization table (natural order)."""
    height: int
    width: int
    """Pixel size of the image the features describe."""

    @property
    def blocks(self) -> tuple[int, int]:
        return self.dct.shape[0], self.dct.shape[1]


def block_grid(height: int, width: int) -> tuple[int, int]:
    """Block rows and columns covering an image (partial edge blocks count)."""
    return -(-height // 8), -(-width // 8)


def residual_energy(dequantized: np.ndarray, quality: int) -> np.ndarray:
    """Per block: sum of squared re-quantisation residuals at IJG ``quality`` (N... x 8 x 8)."""
    table = _IJG[quality]
    residual = dequantized / table
    np.round(residual, out=residual)
    residual *= table
    np.subtract(dequantized, residual, out=residual)
    return np.einsum("...ij,...ij->...", residual, residual)


def _robust_center(values: np.ndarray) -> float:
    flat = values.ravel()
    step = max(1, flat.size // 20000)  # a median of a subsample: cheap and stable at 12 MP
    return float(np.median(flat[::step]))


_IDCT_64 = np.kron(DCT_MATRIX, DCT_MATRIX).astype(np.float32)
"""64 x 64: a block's coefficients (row-major u, v) times this give its pixels (row-major)."""


def block_pixels(dequantized: np.ndarray) -> np.ndarray:
    """Luma pixels per block (rows x cols x 8 x 8 float32, 0-255 range, unclipped) from
    dequantized coefficients (rows x cols x 8 x 8)."""
    rows, cols = dequantized.shape[:2]
    # One GEMM for every block's inverse DCT (M.T @ D @ M == vec(D) @ kron(M, M)).
    pixels = dequantized.reshape(-1, 64) @ _IDCT_64
    pixels += 128.0
    return pixels.reshape(rows, cols, 8, 8)


def luma_from_coefficients(coefficients: np.ndarray, qtable: np.ndarray) -> np.ndarray:
    """Luma pixels (float32, rows*8 x cols*8, level-shifted back to 0-255, unclipped)."""
    rows, cols = coefficients.shape[:2]
    dequantized = coefficients.astype(np.float32) * np.asarray(qtable, np.float32).reshape(8, 8)
    blocks = block_pixels(dequantized)
    return blocks.transpose(0, 2, 1, 3).reshape(rows * 8, cols * 8)


def phase_features(luma: np.ndarray) -> np.ndarray:
    """float32 rows x cols x 17 from a luma plane whose sides are multiples of 8."""
    rows, cols = luma.shape[0] // 8, luma.shape[1] // 8
    return phase_features_blocks(luma.reshape(rows, 8, cols, 8).transpose(0, 2, 1, 3))


def phase_features_blocks(pixels: np.ndarray) -> np.ndarray:
    """float32 rows x cols x 17 from per-block pixels (rows x cols x 8 x 8, row-major).

    Column phase j is the mean absolute step between columns 8b+j and 8b+j+1 over the block's 8
    rows (j = 7: into the next block; 0 at the image's right edge); row phases likewise.
    Computed on the block layout, so the 12 MP plane is never transposed.
    """
    rows, cols = pixels.shape[:2]
    profile = np.zeros((rows, cols, 16), np.float32)
    inner = np.abs(pixels[..., :, 1:] - pixels[..., :, :-1])  # rows x cols x 8 x 7
    profile[..., :7] = inner.mean(axis=2)
    edge = np.abs(pixels[:, 1:, :, 0] - pixels[:, :-1, :, 7])  # rows x cols-1 x 8
    profile[:, :-1, 7] = edge.mean(axis=2)
    inner = np.abs(pixels[..., 1:, :] - pixels[..., :-1, :])  # rows x cols x 7 x 8
    profile[..., 8:15] = inner.mean(axis=3)
    edge = np.abs(pixels[1:, :, 0, :] - pixels[:-1, :, 7, :])  # rows-1 x cols x 8
    profile[:-1, :, 15] = edge.mean(axis=2)
    return _phase_channels(profile)


def _phase_matrices() -> tuple[np.ndarray, np.ndarray]:
    """(64 x 144, 112 x 14): dequantized coefficients -> the 56 in-block column steps, 56 row
    steps, and first/last column/row pixels (8 each); then the mean per phase of |steps|."""
    pixel = _IDCT_64.astype(np.float64)  # column i*8+j is pixel (row i, column j)
    columns = []
    for j in range(7):  # column phase j: pixel (i, j+1) - pixel (i, j), i = 0..7
        columns += [pixel[:, i * 8 + j + 1] - pixel[:, i * 8 + j] for i in range(8)]
    for i in range(7):  # row phase i: pixel (i+1, j) - pixel (i, j), j = 0..7
        columns += [pixel[:, (i + 1) * 8 + j] - pixel[:, i * 8 + j] for j in range(8)]
    columns += [pixel[:, i * 8] for i in range(8)] + [pixel[:, i * 8 + 7] for i in range(8)]
    columns += [pixel[:, j] for j in range(8)] + [pixel[:, 56 + j] for j in range(8)]
    mean = np.kron(np.eye(14), np.full((8, 1), 1 / 8))
    return np.stack(columns, axis=1).astype(np.float32), mean.astype(np.float32)


_PHASE_STEPS, _PHASE_MEAN = _phase_matrices()


def phase_features_from_dequantized(dequantized: np.ndarray) -> np.ndarray:
    """``phase_features_blocks`` straight from dequantized coefficients (rows x cols x 8 x 8):
    the in-block steps are linear in the coefficients, so two GEMMs replace the pixel plane
    (the same values up to float32 rounding; tested)."""
    rows, cols = dequantized.shape[:2]
    steps = dequantized.reshape(-1, 64) @ _PHASE_STEPS
    inner = np.abs(steps[:, :112])
    means = (inner @ _PHASE_MEAN).reshape(rows, cols, 14)
    edges = steps[:, 112:].reshape(rows, cols, 4, 8)
    profile = np.zeros((rows, cols, 16), np.float32)
    profile[..., :7] = means[..., :7]
    profile[..., 8:15] = means[..., 7:]
    # Phase 7: from a block's last column (row) into the next block's first.
    profile[:, :-1, 7] = np.abs(edges[:, 1:, 0] - edges[:, :-1, 1]).mean(axis=2)
    profile[:-1, :, 15] = np.abs(edges[1:, :, 2] - edges[:-1, :, 3]).mean(axis=2)
    return _phase_channels(profile)


def features_from_coefficients(
    coefficients: np.ndarray, qtable: np.ndarray, height: int, width: int
) -> BlockFeatures:
    """Features from quantized luma coefficients (rows x cols x 8 x 8) and their 8x8 table.

    Blocks beyond ``block_grid(height, width)`` (libjpeg's MCU padding) are dropped.
    """
    rows, cols = block_grid(height, width)
    coefficients = coefficients[:rows, :cols]
    qtable = np.asarray(qtable, np.float32).reshape(8, 8)
    dequantized = coefficients.astype(np.float32)
    dequantized *= qtable
    dense = np.empty((rows, cols, DENSE_CHANNELS), np.float32)
    for index, quality in enumerate(RESIDUAL_QUALITIES):
        energy = residual_energy(dequantized, quality)
        np.log1p(energy, out=energy)
        dense[..., index] = energy - _robust_center(energy)
    dense[..., len(RESIDUAL_QUALITIES) :] = phase_features_from_dequantized(dequantized)
    dct = np.clip(coefficients.reshape(rows, cols, 64), -DCT_CLIP, DCT_CLIP).astype(np.int8)
    return BlockFeatures(dct, dense.astype(np.float16), qtable.ravel(), height, width)


def _looks_like_jpeg(head: bytes) -> bool:
    return head[:3] == b"\xff\xd8\xff"


def read_block_features(source: str | Path | bytes) -> BlockFeatures:
    """Features of a JPEG file or JPEG bytes. Raises NotJpegError for anything else."""
    import jpeglib  # imported here: only the localiser needs it

    if isinstance(source, bytes | bytearray):
        if not _looks_like_jpeg(bytes(source[:3])):
            raise NotJpegError("not a JPEG: the localiser reads JPEG DCT coefficients")
        # jpeglib reads from a path only; a private temporary file (in RAM where /dev/shm
        # exists) never lands next to the evidence.
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
        with tempfile.NamedTemporaryFile(suffix=".jpg", dir=folder) as handle:
            handle.write(source)
            handle.flush()
            return read_block_features(handle.name)
    path = Path(source)
    with open(path, "rb") as handle:
        if not _looks_like_jpeg(handle.read(3)):
            raise NotJpegError(f"{path}: not a JPEG; the localiser reads JPEG DCT coefficients")
    try:
        jpeg = jpeglib.read_dct(str(path))
        coefficients = np.asarray(jpeg.Y)
        qtable = np.asarray(jpeg.qt[int(jpeg.quant_tbl_no[0])])
        height, width = int(jpeg.height), int(jpeg.width)
    except Exception as error:  # libjpeg errors come as several exception types
        raise NotJpegError(f"{path}: cannot read the JPEG coefficients ({error})") from None
    return features_from_coefficients(coefficients, qtable, height, width)


def block_targets(mask: np.ndarray) -> np.ndarray:
    """float32 rows x cols: the fraction of each 8x8 block's pixels inside a boolean mask."""
    height, width = mask.shape
    rows, cols = block_grid(height, width)
    padded = np.zeros((rows * 8, cols * 8), np.float32)
    padded[:height, :width] = mask
    counts = padded.reshape(rows, 8, cols, 8).sum(axis=(1, 3))
    inside = np.zeros((rows * 8, cols * 8), np.float32)
    inside[:height, :width] = 1.0
    area = inside.reshape(rows, 8, cols, 8).sum(axis=(1, 3))
    return counts / area


def _phase_channels(profile: np.ndarray) -> np.ndarray:
    """rows x cols x 16 mean steps -> the phase channels: log steps relative to the block's own
    level, then the level relative to the image's robust centre."""
    rows, cols = profile.shape[:2]
    np.log1p(profile, out=profile)
    level = profile.mean(axis=2, keepdims=True)
    out = np.empty((rows, cols, PHASE_CHANNELS), np.float32)
    out[..., :16] = profile - level
    out[..., 16:] = level - _robust_center(level)
    return out

"""A JPEG's own quantized DCT coefficients (read losslessly by jpeglib) and the 8x8 DCT maths the
double-compression models need: block transforms on and off the grid and the zigzag order.

The 2-D DCT JPEG uses is the orthonormal 8x8 DCT-II, so ``C @ block @ C.T`` with the matrix below
gives JPEG's coefficients and ``C.T @ coeffs @ C`` inverts it; the luminance plane rebuilt this way
(before rounding to 8 bits) is what a decoder's IDCT computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


def dct_matrix() -> np.ndarray:
    """The orthonormal 8-point DCT-II matrix (rows: frequencies)."""
    k = np.arange(8)[:, None]
    n = np.arange(8)[None, :]
    matrix = np.cos((2 * n + 1) * k * np.pi / 16) * np.sqrt(2 / 8)
    matrix[0] /= np.sqrt(2)
    return matrix


DCT = dct_matrix()

ZIGZAG: tuple[tuple[int, int], ...] = tuple(
    sorted(
        ((r, c) for r in range(8) for c in range(8)),
        key=lambda rc: (rc[0] + rc[1], rc[0] if (rc[0] + rc[1]) % 2 else rc[1]),
    )
)
"""(row, column) of the 64 DCT modes in JPEG zigzag order: (0,0), (0,1), (1,0), (2,0), ..."""


@dataclass(frozen=True)
class LumaCoefficients:
    coefficients: np.ndarray
    """Quantized luminance coefficients, int16, blocks_y x blocks_x x 8 x 8 (row, column freq)."""
    table: np.ndarray
    """The luminance quantization table, 8 x 8 int."""
    height: int
    width: int


def read_luma(path: str | Path) -> LumaCoefficients:
    """The luminance coefficients and table of the JPEG at ``path``, cropped to the image's blocks.

    Raises ValueError with a one-line reason when jpeglib cannot read it.
    """
    import jpeglib  # imported here: only the double-compression analysis needs it

    try:
        jpeg = jpeglib.read_dct(str(path))
        luma = np.asarray(jpeg.Y)
        table = np.asarray(jpeg.qt[int(jpeg.quant_tbl_no[0])], dtype=np.int64)
        height, width = int(jpeg.height), int(jpeg.width)
    except Exception as exc:  # noqa: BLE001 - jpeglib raises OSError, IndexError, ...
        raise ValueError(f"jpeglib could not read the DCT coefficients ({exc})"[:200]) from exc
    rows, cols = -(-height // 8), -(-width // 8)
    return LumaCoefficients(luma[:rows, :cols], table, height, width)


def block_dct(plane: np.ndarray) -> np.ndarray:
    """8x8 block DCT of ``plane`` (float, level already shifted) over its top-left multiple-of-8
    part: blocks_y x blocks_x x 8 x 8."""
    rows, cols = plane.shape[0] // 8, plane.shape[1] // 8
    blocks = plane[: rows * 8, : cols * 8].reshape(rows, 8, cols, 8).swapaxes(1, 2)
    matrix = DCT.astype(np.float32)
    return matrix @ blocks.astype(np.float32) @ matrix.T


def luma_plane(luma: LumaCoefficients) -> np.ndarray:
    """The decoder's luminance (float32, before rounding and clipping), minus 128."""
    dequantized = luma.coefficients.astype(np.float32) * luma.table.astype(np.float32)
    matrix = DCT.astype(np.float32)
    blocks = matrix.T @ dequantized @ matrix
    rows, cols = blocks.shape[:2]
    return blocks.swapaxes(1, 2).reshape(rows * 8, cols * 8).astype(np.float32)

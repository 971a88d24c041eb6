"""The JPEG byte stream itself: its frame header, cut-off files and libjpeg's warnings.

Pillow refuses a JPEG whose data stops early ("image file is truncated") and calls a 12-bit JPEG
"not an image". Investigators get cut-off files all the time (recovered, partly copied or partly
downloaded), so :func:`decode_truncated` decodes every complete row that is there and says how
many; :func:`frame_precision` lets the loader name a 12-bit JPEG instead of calling it unknown.
"""

from __future__ import annotations

import io
import math
import struct

import numpy as np
from PIL import Image

# Start-of-frame markers (baseline, extended, progressive, lossless, arithmetic variants).
# 0xC4 (DHT), 0xC8 (JPG) and 0xCC (DAC) share the range but are not frame headers.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PROGRESSIVE_SOF = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
# Rows libjpeg may still hold back when the data stops right at the end of the scan: the last MCU
# row (up to 16 rows with 2x vertical subsampling) plus the row group kept for upsampling context,
# with a margin.
_HELD_BACK_ROWS = 64


def _header_segments(data: bytes):
    """(marker, position) of each marker segment from SOI up to and including the first scan."""
    if data[:2] != b"\xff\xd8":
        return
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        yield marker, pos
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker == 0xDA or length < 2:
            return
        pos += 2 + length


def frame_header(data: bytes) -> tuple[int, int, int, int] | None:
    """(marker, precision, height, width) of the first frame header, None if there is none."""
    for marker, pos in _header_segments(data):
        if marker in _SOF_MARKERS and pos + 9 <= len(data):
            precision, height, width = struct.unpack(">BHH", data[pos + 4 : pos + 9])
            return marker, precision, height, width
    return None


def frame_precision(data: bytes) -> int | None:
    """Bits per sample the JPEG declares (8 for almost every file, 12 for some medical/raw)."""
    header = frame_header(data)
    return None if header is None else header[1]


def is_progressive(data: bytes) -> bool:
    header = frame_header(data)
    return header is not None and header[0] in _PROGRESSIVE_SOF


def decode_truncated(data: bytes) -> tuple[Image.Image, int]:
    """Decode the complete rows of a JPEG whose data stops early.

    Returns (image, rows): the full-size Pillow image and how many rows from the top are real
    decoded pixels. Pillow's libjpeg decoder is fed everything there is; in this suspending mode
    libjpeg writes only whole rows it could decode and leaves the rest of the canvas untouched.
    The canvas is filled twice, with 0 and with 255: a row that differs between the two was never
    written. (libjpeg's own end-of-data handling would instead fill the rest with grey blocks that
    look like pixels.) A progressive JPEG writes no row before its last scan, so it gives 0 rows.
    """
    canvases = []
    for fill in (0, 255):
        with Image.open(io.BytesIO(data)) as image:
            tile = image.tile[0]
            canvas = Image.new(image.mode, image.size, (fill,) * len(image.getbands()))
            decoder = Image._getdecoder(image.mode, tile.codec_name, tile.args, image.decoderconfig)
            try:
                decoder.setimage(canvas.im, tile.extents)
                decoder.decode(data[tile.offset :])
            finally:
                decoder.cleanup()
            canvases.append(canvas)
    low = np.asarray(canvases[0])
    high = np.asarray(canvases[1])
    unwritten = (low != high).reshape(low.shape[0], -1).any(axis=1)
    rows = int(np.argmax(unwritten)) if unwritten.any() else low.shape[0]
    # Only a file that lost at most its last row groups can be one that lost only its end marker.
    if low.shape[0] - rows <= _HELD_BACK_ROWS:
        complete = _complete_with_end_marker(data)
        if complete is not None:
            return complete, complete.height
    return canvases[0], rows


def _complete_with_end_marker(data: bytes) -> Image.Image | None:
    """The whole image when every scan is complete and only the end-of-image marker is gone.

    Without a marker after the data, libjpeg cannot finish the last MCUs (it reads ahead), so such
    a file would lose its last row group. With filler bytes and an end marker appended, a complete
    scan ignores the filler, while a cut one decodes the filler as image data: two different
    fillers give the same pixels only when nothing was missing. Restart markers make libjpeg skip
    to the next marker, and a progressive file's missing scans need not read the filler the same
    way, either could hide the difference, so such files are not tried.
    """
    if is_progressive(data) or any(marker == 0xDD for marker, _ in _header_segments(data)):
        return None
    decoded = []
    for filler in (b"\x00", b"\xaa"):
        try:
            with Image.open(io.BytesIO(data + filler * 512 + b"\xff\xd9")) as image:
                image.load()
                decoded.append(image.copy())
        except (OSError, ValueError, SyntaxError):
            return None
    same = np.array_equal(np.asarray(decoded[0]), np.asarray(decoded[1]))
    return decoded[0] if same else None


def describe_rows(rows: int, height: int) -> str:
    """'rows 0-1231 of 2160 decoded (57%)': how much of a cut-off image is real.

    The percentage is cut, not rounded, so a file with rows missing never reads as 100%."""
    if rows >= height:
        shown = "100"
    else:
        percent = 100.0 * rows / height if height else 0.0
        decimals = 0 if percent < 99 else 1
        while math.floor(percent * 10**decimals) >= 100 * 10**decimals:
            decimals += 1
        shown = f"{math.floor(percent * 10**decimals) / 10**decimals:.{decimals}f}"
    return f"rows 0-{rows - 1} of {height} decoded ({shown}%)"


def check_stream(data: bytes, notes: list[str]) -> None:
    """Pillow hides libjpeg's warnings and decodes damaged scans to grey garbage; a strict
    libjpeg-turbo decode surfaces them. The image still opens (an investigator wants to see what
    is there), with a note that says the data is corrupt."""
    try:
        import simplejpeg
    except ImportError:  # pragma: no cover - optional accelerator
        return
    try:
        simplejpeg.decode_jpeg(data, strict=True)
    except ValueError as exc:
        message = str(exc)
        if message.startswith(("Corrupt JPEG data", "Premature end")):
            notes.append(
                f"JPEG data is corrupt ({message}): pixels after the damage are the decoder's "
                "guess, not the original's"
            )

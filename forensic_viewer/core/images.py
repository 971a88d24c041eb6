"""Open evidence safely: read-only, typed errors, a documented conversion to RGB.

Mode policy (what ``load_image`` turns each Pillow mode into):

- RGB: unchanged.  L, LA, P, PA, RGBA, RGBX, CMYK, YCbCr, 1: ``Image.convert("RGB")``, exactly as
  the classic ELA recipe does. Alpha is dropped, not composited, so the stored colour values are
  analysed; a note says so. Palette images use their palette colours.
- I;16 variants, I and F (16/32-bit): scaled to 8 bits from the image's own range (16-bit: v >> 8),
  because Pillow's own conversion clips everything above 255 to white. A note says so.
- Animated images and multi-page files: frame 0, with a note naming the frame count.
- JPEGs with an MPF index (Pillow's "MPO": iPhone gain maps, depth maps): the primary image, as
  the JPEG it is (``format`` "JPEG"); the other images are listed in ``embedded``, not analysed.
- HEIC/HEIF (through pillow-heif) and AVIF (Pillow): decoded and described; ELA and the JPEG
  network do not apply to them (``metadata.warnings_for`` says so).
- Cut-off JPEGs: the complete rows at the top are decoded; ``pixels`` holds only those rows and
  ``facts.decoded_rows`` says how many of ``facts.height`` are real, so every analysis of
  ``pixels`` covers only real rows. ``pad_missing_rows`` restores the full frame for showing.
- EXIF orientation is reported and *not* applied to ``pixels``: ELA works on the stored grid, where
  the JPEG blocks are. ``display_pixels()`` / ``orient()`` apply it for showing.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, PngImagePlugin, UnidentifiedImageError

from .errors import (
    CorruptImageError,
    EmptyFileError,
    ImageLoadError,
    MetadataTooLargeError,
    NotAnImageError,
    TooManyPixelsError,
    UnreadableFileError,
    UnsupportedFormatError,
)
from .jpeg import JpegFacts, jpeg_facts_from_pillow
from .jpeg_stream import (
    check_stream,
    decode_truncated,
    describe_rows,
    frame_precision,
    is_progressive,
)
from .metadata import display_orientation, exif_summary, information_for, warnings_for
from .modes import to_rgb
from .mpf import EmbeddedImage, embedded_images, primary_length

# Our own guard (``max_pixels``) replaces Pillow's global one so the limit is per call.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Pillow refuses PNG text chunks over 1 MB decompressed; photo tools write several MB of XMP
# into zTXt/iTXt. 32 MB per chunk (64 MB for all text, Pillow's default) still bounds a text bomb
# far below the pixel limit's ~750 MB.
PngImagePlugin.MAX_TEXT_CHUNK = 32 * 1024 * 1024
PngImagePlugin.MAX_TEXT_MEMORY = max(PngImagePlugin.MAX_TEXT_MEMORY, 64 * 1024 * 1024)

try:  # HEIC/HEIF, the iPhone's default format since 2017; AVIF is Pillow's own
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - a dependency, but the rest must work without it
    HEIF_SUPPORTED = False

DEFAULT_MAX_PIXELS = 250_000_000
"""Default decompression-bomb limit: 250 megapixels (about 750 MB as RGB)."""

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"}
    | {".mpo", ".heic", ".heif", ".hif", ".avif"}
)


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


@dataclass(frozen=True)
class ImageFacts:
    path: Path
    format: str | None
    mode: str
    width: int
    height: int
    frames: int
    orientation: int
    jpeg: JpegFacts | None
    icc_present: bool
    file_size: int
    sha256: str
    exif: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    decoded_rows: int | None = None
    """Rows from the top that were decoded when the file is cut off; None when it is complete."""
    embedded: tuple[EmbeddedImage, ...] = ()
    """Images after the primary one in an MPF JPEG (gain map, depth map, thumbnail)."""

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def truncated(self) -> bool:
        return self.decoded_rows is not None

    def describe_decoded(self) -> str | None:
        """'rows 0-1231 of 2160 decoded (57%)' for a cut-off file, None for a complete one."""
        if self.decoded_rows is None:
            return None
        return describe_rows(self.decoded_rows, self.height)

    @property
    def warnings(self) -> list[str]:
        return warnings_for(self)

    @property
    def information(self) -> list[str]:
        """Neutral explanations (see ``metadata.information_for``), not warnings."""
        return information_for(self)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "mode": self.mode,
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
            "exif_orientation": self.orientation,
            "icc_profile": self.icc_present,
            "file_size": self.file_size,
            "sha256": self.sha256,
            "jpeg": None if self.jpeg is None else self.jpeg.as_dict(),
            "exif": self.exif,
            "decoded_rows": self.decoded_rows,
            "embedded_images": [item.as_dict() for item in self.embedded],
            "notes": list(self.notes),
            "warnings": self.warnings,
            "information": self.information,
        }


@dataclass(frozen=True)
class LoadedImage:
    pixels: np.ndarray
    """RGB uint8, H x W x 3, on the stored pixel grid (EXIF orientation not applied). For a
    cut-off file, only the decoded rows (``facts.decoded_rows`` of ``facts.height``)."""
    facts: ImageFacts

    def display_pixels(self) -> np.ndarray:
        return orient(pad_missing_rows(self.pixels, self.facts.height), self.facts.orientation)


MISSING_FILL = 96
"""Grey level of the stripes that mark the rows a cut-off file does not have."""


def pad_missing_rows(array: np.ndarray, height: int, hatch: bool = True) -> np.ndarray:
    """``array`` (the decoded top rows) extended to ``height`` rows for showing.

    The missing rows get diagonal grey stripes (``hatch``), which no photo looks like, or zeros
    (blank, for analysis results such as the ELA). Returns ``array`` itself when nothing is missing.
    """
    rows = array.shape[0]
    if rows >= height:
        return array
    missing = np.zeros((height - rows, *array.shape[1:]), dtype=array.dtype)
    if hatch:
        yy, xx = np.mgrid[rows:height, 0 : array.shape[1]]
        stripes = ((xx + yy) // 12) % 2 == 0
        missing[stripes] = MISSING_FILL
        missing[~stripes] = MISSING_FILL // 2
    return np.concatenate([array, missing], axis=0)


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an H x W [x C] array, for display only."""
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return np.swapaxes(array, 0, 1)
    if orientation == 6:
        return np.rot90(array, k=-1)
    if orientation == 7:
        return np.swapaxes(array[::-1, ::-1], 0, 1)
    if orientation == 8:
        return np.rot90(array, k=1)
    return array


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _read_bytes(path: Path) -> bytes:
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise UnreadableFileError(path, "no such file") from exc
    except OSError as exc:  # symlink loops, too-long names, I/O errors
        raise UnreadableFileError(path, exc.strerror or str(exc)) from exc
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableFileError(path, "it is a folder")
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFileError(path, "not a regular file")
    if info.st_size == 0:
        raise EmptyFileError(path)
    try:
        # os.open with O_RDONLY: evidence is never opened for writing.
        fd = os.open(path, os.O_RDONLY)
    except PermissionError as exc:
        raise UnreadableFileError(path, "permission denied") from exc
    except OSError as exc:
        raise UnreadableFileError(path, exc.strerror or str(exc)) from exc
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode ``path`` into RGB pixels plus facts. Only ``ImageLoadError`` subclasses escape."""
    path = Path(path)
    try:
        return _load(path, max_pixels)
    except ImageLoadError:
        raise
    except MemoryError as exc:
        raise TooManyPixelsError(path, "not enough memory to decode it") from exc
    except Exception as exc:  # noqa: BLE001 - the contract: nothing untyped escapes
        raise CorruptImageError(path, f"{type(exc).__name__}: {exc}"[:200]) from exc


def _load(path: Path, max_pixels: int) -> LoadedImage:
    data = _read_bytes(path)
    sha = hashlib.sha256(data).hexdigest()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError as exc:
            precision = frame_precision(data)
            if precision not in (None, 8):
                raise UnsupportedFormatError(
                    path, f"{precision}-bit JPEG: the decoder reads only 8-bit JPEGs"
                ) from exc
            raise NotAnImageError(path) from exc
        except Image.DecompressionBombError as exc:
            raise TooManyPixelsError(path, str(exc)) from exc
        except ValueError as exc:
            _raise_text_limit(path, exc)
            raise CorruptImageError(path, str(exc)[:200]) from exc
        except (SyntaxError, OSError, EOFError, struct_error()) as exc:
            raise CorruptImageError(path, str(exc)[:200]) from exc
        with image:
            width, height = image.size
            if width <= 0 or height <= 0:
                raise CorruptImageError(path, f"declared size {width}x{height}")
            if width * height > max_pixels:
                raise TooManyPixelsError(
                    path,
                    f"{width}x{height} = {width * height / 1e6:.0f} MP, "
                    f"limit {max_pixels / 1e6:.0f} MP",
                )
            notes: list[str] = []
            is_jpeg = image.format in ("JPEG", "MPO")
            embedded: tuple[EmbeddedImage, ...] = ()
            jpeg_data = data
            if image.format == "MPO":
                # The primary image is a plain JPEG; the rest are listed, not counted as frames.
                embedded = embedded_images(image, data)
                jpeg_data = data[: primary_length(image, data)]
                frames = 1
                notes.append(
                    f"JPEG with {len(embedded)} embedded image(s) in an MPF index "
                    "(Pillow calls it MPO): the primary image is analysed"
                )
            else:
                frames = int(getattr(image, "n_frames", 1) or 1)
            if frames > 1:
                kind = "animated image" if getattr(image, "is_animated", False) else "file"
                notes.append(f"{kind} with {frames} frames/pages: frame 1 is analysed")
                image.seek(0)
            decoded_rows = None
            source: Image.Image = image
            try:
                image.load()
            except ValueError as exc:
                _raise_text_limit(path, exc)
                raise CorruptImageError(path, str(exc)[:200]) from exc
            except (OSError, SyntaxError, EOFError, struct_error()) as exc:
                if not (is_jpeg and "truncated" in str(exc)):
                    raise CorruptImageError(path, str(exc)[:200]) from exc
                source, decoded_rows = _decode_cut_off(path, jpeg_data, notes, exc)
            if is_jpeg and decoded_rows is None and source is image:
                check_stream(jpeg_data, notes)
            exif = exif_summary(image)
            orientation, orientation_note = display_orientation(exif)
            if orientation_note:
                notes.append(orientation_note)
            if orientation != 1:
                notes.append(f"EXIF orientation {orientation}: rotated for display only")
            pixels = np.ascontiguousarray(to_rgb(source, path, notes))
            facts = ImageFacts(
                path=path,
                format="JPEG" if is_jpeg else image.format,
                mode=image.mode,
                width=width,
                height=height,
                frames=frames,
                orientation=orientation,
                jpeg=jpeg_facts_from_pillow(image),
                icc_present=bool(image.info.get("icc_profile")),
                file_size=len(data),
                sha256=sha,
                exif=exif,
                notes=tuple(notes),
                decoded_rows=decoded_rows,
                embedded=embedded,
            )
    return LoadedImage(pixels=pixels, facts=facts)


def _decode_cut_off(
    path: Path, data: bytes, notes: list[str], error: Exception
) -> tuple[Image.Image, int | None]:
    """The decodable top of a JPEG whose data stops early, and its row count (None: all rows)."""
    canvas, rows = decode_truncated(data)
    height = canvas.height
    if rows == 0 and is_progressive(data):
        return _decode_cut_off_progressive(path, data, notes, error), None
    if rows == 0:
        detail = "the data stops before the first complete row of pixels"
        raise CorruptImageError(path, detail) from error
    if rows >= height:
        notes.append("JPEG end marker missing: every row is present and was decoded")
        return canvas, None
    # warnings_for says how much is real (from decoded_rows), so there is no note here.
    return canvas.crop((0, 0, canvas.width, rows)), rows


def _decode_cut_off_progressive(
    path: Path, data: bytes, notes: list[str], error: Exception
) -> Image.Image:
    """A progressive JPEG sends the whole picture coarse first and refines it scan by scan, so a
    cut-off one has no finished row but a whole, coarser picture. libjpeg builds it from the scans
    that arrived when the data ends with an end marker; the note starts as the corrupt-data note
    does, so the picture is shown but not taken for the original's detail. A progressive file may
    legally have fewer scans, so neither libjpeg nor this code can tell a file that lost only its
    end marker from one cut at the end of a scan; the note says so."""
    scans = data.count(b"\xff\xda")  # 0xFF is always followed by 0x00 inside scan data
    try:
        with Image.open(io.BytesIO(data + b"\xff\xd9")) as image:
            image.load()
            canvas = image.copy()
    except (OSError, SyntaxError, ValueError, EOFError, struct_error()) as exc:
        raise CorruptImageError(path, f"a cut-off progressive JPEG ({exc})"[:200]) from error
    notes.append(
        f"JPEG data is corrupt (progressive JPEG cut off in scan {scans}): the picture is built "
        "from the scans that arrived; unless only the end marker was lost, every row is coarser "
        "than the original and the ELA shows the decoder's guess"
    )
    return canvas


def _raise_text_limit(path: Path, error: ValueError) -> None:
    """Pillow's PNG text-chunk guard, named as what it is instead of 'corrupt'."""
    message, mib = str(error), 1024 * 1024
    if "MAX_TEXT_MEMORY" in message:
        limit = PngImagePlugin.MAX_TEXT_MEMORY // mib
        detail = f"the PNG text chunks add up to more than {limit} MB"
    elif "MAX_TEXT" in message:
        detail = (
            f"a PNG text chunk decompresses to more than {PngImagePlugin.MAX_TEXT_CHUNK // mib} MB"
        )
    else:
        return
    raise MetadataTooLargeError(path, detail) from error


def struct_error() -> type[Exception]:
    import struct

    return struct.error

"""Open evidence safely: read-only, typed errors, a documented conversion to RGB.

Mode policy (what ``load_image`` turns each Pillow mode into):

- RGB: unchanged.  L, LA, P, PA, RGBA, RGBX, CMYK, YCbCr, 1: ``Image.convert("RGB")``, exactly as
  the classic ELA recipe does. Alpha is dropped, not composited, so the stored colour values are
  analysed; a note says so. Palette images use their palette colours.
- I;16 variants, I and F (16/32-bit): scaled to 8 bits from the image's own range (16-bit: v >> 8),
  because Pillow's own conversion clips everything above 255 to white. A note says so.
- Animated images and multi-page files: frame 0, with a note naming the frame count.
- EXIF orientation is reported and *not* applied to ``pixels``: ELA works on the stored grid, where
  the JPEG blocks are. ``display_pixels()`` / ``orient()`` apply it for showing.
"""

from __future__ import annotations

import hashlib
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from .errors import (
    CorruptImageError,
    EmptyFileError,
    ImageLoadError,
    NotAnImageError,
    TooManyPixelsError,
    UnreadableFileError,
    UnsupportedFormatError,
)
from .jpeg import JpegFacts, jpeg_facts_from_pillow
from .metadata import display_orientation, exif_summary, information_for, warnings_for

# Our own guard (``max_pixels``) replaces Pillow's global one so the limit is per call.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False

DEFAULT_MAX_PIXELS = 250_000_000
"""Default decompression-bomb limit: 250 megapixels (about 750 MB as RGB)."""

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"}
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

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

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
            "notes": list(self.notes),
            "warnings": self.warnings,
            "information": self.information,
        }


@dataclass(frozen=True)
class LoadedImage:
    pixels: np.ndarray
    """RGB uint8, H x W x 3, on the stored pixel grid (EXIF orientation not applied)."""
    facts: ImageFacts

    def display_pixels(self) -> np.ndarray:
        return orient(self.pixels, self.facts.orientation)


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


def _to_rgb(image: Image.Image, path: Path, notes: list[str]) -> np.ndarray:
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image, dtype=np.uint8)
    if mode.startswith("I;16") or mode in ("I", "F"):
        data = np.asarray(image)
        if mode.startswith("I;16"):
            gray = (data.astype(np.uint32) >> 8).astype(np.uint8)
            notes.append("16-bit image reduced to 8 bits (high byte) for display and ELA")
        else:
            data = data.astype(np.float64)
            lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
            span = hi - lo if hi > lo else 1.0
            gray = np.clip((data - lo) * (255.0 / span), 0, 255).astype(np.uint8)
            notes.append(f"{mode} image stretched from [{lo:g}, {hi:g}] to 8 bits")
        return np.repeat(gray[:, :, None], 3, axis=2)
    if "A" in mode or (mode == "P" and "transparency" in image.info):
        notes.append("Transparency ignored: colour values are analysed as stored")
    if mode == "CMYK":
        notes.append("CMYK converted to RGB (naive inversion, as Pillow does)")
    try:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (ValueError, OSError) as exc:
        raise UnsupportedFormatError(path, f"mode {mode}") from exc


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
    import io

    data = _read_bytes(path)
    sha = hashlib.sha256(data).hexdigest()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError as exc:
            raise NotAnImageError(path) from exc
        except Image.DecompressionBombError as exc:
            raise TooManyPixelsError(path, str(exc)) from exc
        except (SyntaxError, OSError, ValueError, EOFError, struct_error()) as exc:
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
            frames = int(getattr(image, "n_frames", 1) or 1)
            notes: list[str] = []
            if frames > 1:
                kind = "animated image" if getattr(image, "is_animated", False) else "file"
                notes.append(f"{kind} with {frames} frames/pages: frame 1 is analysed")
                image.seek(0)
            try:
                image.load()
            except (OSError, SyntaxError, ValueError, EOFError, struct_error()) as exc:
                raise CorruptImageError(path, str(exc)[:200]) from exc
            if image.format == "JPEG":
                _check_jpeg_stream(path, data, notes)
            exif = exif_summary(image)
            orientation, orientation_note = display_orientation(exif)
            if orientation_note:
                notes.append(orientation_note)
            if orientation != 1:
                notes.append(f"EXIF orientation {orientation}: rotated for display only")
            pixels = np.ascontiguousarray(_to_rgb(image, path, notes))
            facts = ImageFacts(
                path=path,
                format=image.format,
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
            )
    return LoadedImage(pixels=pixels, facts=facts)


def _check_jpeg_stream(path: Path, data: bytes, notes: list[str]) -> None:
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


def struct_error() -> type[Exception]:
    import struct

    return struct.error

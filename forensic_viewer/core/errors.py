"""Typed errors that carry a sentence a user understands.

Every failure to read evidence surfaces as one of these; callers show ``str(err)``.
"""

from __future__ import annotations

from pathlib import Path


class ForensicError(Exception):
    """Base of every error the project raises on purpose."""


class ImageLoadError(ForensicError):
    """The file could not be turned into pixels. ``str()`` names the file and the reason."""

    reason = "could not be read"

    def __init__(self, path: str | Path, detail: str | None = None) -> None:
        self.path = Path(path)
        self.detail = detail
        message = f"{self.path.name}: {self.reason}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


class EmptyFileError(ImageLoadError):
    reason = "the file is empty (zero bytes)"


class NotAnImageError(ImageLoadError):
    reason = "not an image file, or a format Forensic Viewer cannot read"


class UnsupportedFormatError(ImageLoadError):
    reason = "this image format or pixel layout is not supported"


class CorruptImageError(ImageLoadError):
    reason = "the image is truncated or corrupt"


class TooManyPixelsError(ImageLoadError):
    reason = "the image declares too many pixels (possible decompression bomb)"


class MetadataTooLargeError(ImageLoadError):
    reason = "its metadata is too large to read safely (possible decompression bomb)"


class UnreadableFileError(ImageLoadError):
    reason = "the file cannot be opened"


class OutputPathError(ForensicError):
    """Refused to write an output (for example, over the evidence file)."""

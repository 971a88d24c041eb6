"""Images embedded in a JPEG through the Multi-Picture Format (MPF, CIPA DC-007).

iPhones since the 13 Pro (and Android "Ultra HDR" phones) append an HDR gain map, depth map or
portrait matte after the main picture and index them in an APP2 "MPF" segment. Pillow then calls
the file "MPO" and counts frames, as if it were a stereo pair or an animation. The first image is
an ordinary baseline JPEG and is analysed as one; the others are only listed here.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

# MPType names Pillow reports, mapped to words a user knows.
_MP_TYPES = {
    "Large Thumbnail (VGA Equivalent)": "large thumbnail",
    "Large Thumbnail (Full HD Equivalent)": "large thumbnail",
    "Multi-Frame Image (Panorama)": "panorama frame",
    "Multi-Frame Image: (Disparity)": "stereo view (disparity)",
    "Multi-Frame Image: (Multi-Angle)": "multi-angle view",
    "Baseline MP Primary Image": "second primary image",
}
# Strings in an auxiliary image's own metadata (XMP) that say what it is. Apple writes
# "urn:com:apple:photo:2020:aux:hdrgainmap" and similar URNs; Ultra HDR writes "hdrgm".
_AUX_HINTS = (
    (b"hdrgainmap", "HDR gain map"),
    (b"hdrgm", "HDR gain map"),
    (b"portraiteffectsmatte", "portrait matte"),
    (b"semanticsegmentation", "segmentation matte"),
    (b"depth", "depth map"),
    (b"disparity", "depth (disparity) image"),
)
_SNIFF_BYTES = 64 * 1024  # the metadata of an embedded JPEG sits in its first segments


@dataclass(frozen=True)
class EmbeddedImage:
    index: int
    """1-based position in the MPF index (1 is the primary image, never listed)."""
    kind: str
    width: int | None
    height: int | None
    offset: int
    """Byte offset of the embedded JPEG in the file."""
    length: int

    def describe(self) -> str:
        size = "size unknown" if self.width is None else f"{self.width} x {self.height} px"
        return f"{self.kind}, {size}, {self.length:,} bytes"

    def as_dict(self) -> dict:
        return {
            "index": self.index,
            "kind": self.kind,
            "width": self.width,
            "height": self.height,
            "offset": self.offset,
            "bytes": self.length,
        }


def embedded_images(image: Image.Image, data: bytes) -> tuple[EmbeddedImage, ...]:
    """The images after the primary one in an MPF JPEG (empty for plain JPEGs)."""
    try:
        entries = list((getattr(image, "mpinfo", None) or {}).get(0xB002, []))
    except (AttributeError, TypeError, ValueError):
        return ()
    base = _mpf_base(data)
    if base is None:
        return ()
    found: list[EmbeddedImage] = []
    for number, entry in enumerate(entries[1:], start=2):
        try:
            offset = base + int(entry["DataOffset"])
            length = int(entry["Size"])
            mp_type = str(entry.get("Attribute", {}).get("MPType", "Undefined"))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        chunk = data[offset : offset + length] if 0 < offset < len(data) else b""
        found.append(EmbeddedImage(number, _kind(mp_type, chunk), *_size(chunk), offset, length))
    return tuple(found)


def _mpf_base(data: bytes) -> int | None:
    """Where MPF offsets count from: the byte after "MPF\\0" in the first APP2 MPF segment."""
    start = 0
    while (found := data.find(b"MPF\x00", start)) != -1:
        if found >= 4 and data[found - 4 : found - 2] == b"\xff\xe2":
            return found + 4
        start = found + 1
    return None


def primary_length(image: Image.Image, data: bytes) -> int:
    """Bytes of the primary JPEG (the whole file when the MPF index does not say)."""
    try:
        size = int(image.mpinfo[0xB002][0]["Size"])
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return len(data)
    return size if 0 < size <= len(data) else len(data)


def _kind(mp_type: str, chunk: bytes) -> str:
    if mp_type in _MP_TYPES:
        return _MP_TYPES[mp_type]
    head = chunk[:_SNIFF_BYTES].lower()
    for needle, kind in _AUX_HINTS:
        if needle in head:
            return kind
    return "unnamed image"


def _size(chunk: bytes) -> tuple[int | None, int | None]:
    if not chunk.startswith(b"\xff\xd8"):
        return None, None
    try:
        with Image.open(io.BytesIO(chunk)) as embedded:
            return embedded.size
    except Exception:  # noqa: BLE001 - a broken embedded image must not stop the primary one
        return None, None

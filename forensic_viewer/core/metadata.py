"""EXIF highlights and the warnings worth showing an investigator.

EXIF is written by anything, so every value may have any type (a text Orientation 'six', a date
stored as the rational 0/0): bad metadata is reported or dropped here, and never stops the
pixels from being analysed.
"""

from __future__ import annotations

import math
from typing import Any

# Tag ids from the EXIF 2.3 specification.
_IFD0 = {0x010F: "camera_make", 0x0110: "camera_model", 0x0131: "software", 0x0132: "modified"}
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_EXIF = {0x9003: "captured", 0x9004: "digitized", 0xA434: "lens"}
ORIENTATION_TAG = 0x0112

EDITOR_HINTS = (
    "photoshop",
    "gimp",
    "lightroom",
    "affinity",
    "paint.net",
    "pixelmator",
    "snapseed",
    "picsart",
    "canva",
    "facetune",
    "krita",
)


def _clean(value: Any) -> Any:
    """A printable, JSON-safe value; None for numbers that are not finite (a rational 0/0)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value.replace("\x00", "").strip()
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return str(value)
    return number if math.isfinite(number) else None


def _orientation(value: Any) -> Any:
    """The Orientation tag as an int when it is a whole number, else its text as found."""
    cleaned = _clean(value)
    if cleaned is None and value is not None:  # a rational 0/0 or 1/0
        fraction = (getattr(value, "numerator", None), getattr(value, "denominator", None))
        return "/".join(map(str, fraction)) if None not in fraction else str(value)
    if isinstance(cleaned, str):
        if not cleaned:
            return None
        try:
            return int(cleaned)  # '6' from a writer that stored the number as text
        except ValueError:
            pass
        try:
            cleaned = float(cleaned)
        except ValueError:
            return cleaned
        if not math.isfinite(cleaned):
            return str(value)
    if isinstance(cleaned, float):
        return int(cleaned) if cleaned.is_integer() else cleaned
    return cleaned


def display_orientation(exif: dict[str, Any]) -> tuple[int, str | None]:
    """The orientation to display (1-8) and, when the tag is unusable, a note saying so."""
    value = exif.get("orientation", 1)
    if value is None or value == "":
        return 1, None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8:
        return value, None
    shown = value if isinstance(value, int | float) else repr(value)
    return 1, f"Invalid EXIF orientation {shown} ignored"


def exif_summary(image) -> dict[str, Any]:
    """Camera, software, dates and GPS presence from a Pillow image; {} when it has no EXIF."""
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001 - malformed EXIF must not stop the analysis
        return {"error": "EXIF block present but unreadable"}
    if not exif:
        return {}
    summary: dict[str, Any] = {}
    _copy(exif, _IFD0, summary)
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:  # noqa: BLE001
        sub = {}
    _copy(sub, _EXIF, summary)
    try:
        gps = exif.get_ifd(_GPS_IFD)
    except Exception:  # noqa: BLE001
        gps = {}
    summary["gps_present"] = bool(gps)
    try:
        orientation = _orientation(exif.get(ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - a value of a strange type is shown as unusable
        orientation = "unreadable"
    summary["orientation"] = 1 if orientation is None else orientation
    return summary


def _copy(source, tags: dict[int, str], summary: dict[str, Any]) -> None:
    """Copy the tags that hold a usable value; one bad value does not lose the others."""
    for tag, name in tags.items():
        try:
            value = _clean(source[tag]) if tag in source else None
        except Exception:  # noqa: BLE001 - an odd type in one tag is skipped, not fatal
            continue
        if value not in (None, ""):
            summary[name] = value


# Formats whose own compression is not JPEG's 8x8 DCT quantization: there is no JPEG error level.
NOT_JPEG_CODECS = {"HEIF": "HEVC-compressed", "AVIF": "AV1-compressed"}


def warnings_for(facts) -> list[str]:
    """Plain-language observations worth a second look (not proof of anything)."""
    notes: list[str] = []
    exif = facts.exif
    software = str(exif.get("software", "")).lower()
    if any(hint in software for hint in EDITOR_HINTS):
        notes.append(f"Software tag names an image editor: {exif.get('software')}")
    if facts.format == "JPEG" and not exif:
        notes.append("No EXIF metadata (often stripped by editors, messengers or social media)")
    if exif.get("captured") and exif.get("modified") and exif["captured"] != exif["modified"]:
        notes.append("Modification date differs from capture date")
    if facts.jpeg is not None and facts.jpeg.progressive:
        notes.append("Progressive JPEG (cameras rarely write these; editors and the web do)")
    if facts.format in NOT_JPEG_CODECS:
        notes.append(
            f"{facts.format} is not a JPEG ({NOT_JPEG_CODECS[facts.format]}): ELA and the JPEG "
            "network do not apply, so no verdict on it can be more than inconclusive; the picture "
            "and its metadata are shown"
        )
    elif facts.format not in ("JPEG", None):
        notes.append(
            f"{facts.format} is not a JPEG: ELA compares against a first JPEG compression and is "
            "much less meaningful"
        )
    described = getattr(facts, "describe_decoded", lambda: None)()
    if described:
        notes.append(
            f"Truncated file: {described}; the rest is missing. ELA and the verdict cover only "
            "the decoded rows"
        )
    return notes


def information_for(facts) -> list[str]:
    """Plain facts that explain a reading but are no reason for suspicion on their own.

    Non-standard quantization tables are here, not among the warnings: cameras and phones
    (iPhone, Nikon, Canon...) write their own tables, so a plain original has them too. An editor
    that also writes them is named by the Software warning.
    """
    lines: list[str] = []
    quality = facts.jpeg.quality if facts.jpeg is not None else None
    if quality is not None and not quality.standard:
        lines.append(
            "Non-standard JPEG quantization tables, as cameras, phones and some editors write; "
            "the quality number is approximate"
        )
    return lines

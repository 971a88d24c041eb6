"""EXIF highlights and the warnings worth showing an investigator."""

from __future__ import annotations

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
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value.replace("\x00", "").strip()
    try:
        return float(value) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        return str(value)


def exif_summary(image) -> dict[str, Any]:
    """Camera, software, dates and GPS presence from a Pillow image; {} when it has no EXIF."""
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001 - malformed EXIF must not stop the analysis
        return {"error": "EXIF block present but unreadable"}
    if not exif:
        return {}
    summary: dict[str, Any] = {}
    for tag, name in _IFD0.items():
        if tag in exif and exif[tag] not in (None, b"", ""):
            summary[name] = _clean(exif[tag])
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:  # noqa: BLE001
        sub = {}
    for tag, name in _EXIF.items():
        if tag in sub and sub[tag] not in (None, b"", ""):
            summary[name] = _clean(sub[tag])
    try:
        gps = exif.get_ifd(_GPS_IFD)
    except Exception:  # noqa: BLE001
        gps = {}
    summary["gps_present"] = bool(gps)
    summary["orientation"] = int(exif.get(ORIENTATION_TAG, 1) or 1)
    return summary


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
    if facts.format not in ("JPEG", None):
        notes.append(
            f"{facts.format} is not a JPEG: ELA compares against a first JPEG compression and is "
            "much less meaningful"
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

"""Inconsistencies in a metadata tree worth an investigator's second look: editor software, dates
that disagree, editing history. Each is an observation, not proof: cameras have wrong clocks and
some phone apps write their name into Software without changing a pixel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .exiftool import MetadataTree
from .metadata import EDITOR_HINTS

DATE_TOLERANCE_S = 2.0  # cameras write capture and file dates a second or so apart

SOFTWARE_KEYS = (
    "IFD0:Software",
    "XMP-xmp:CreatorTool",
    "XMP-tiff:Software",
    "XMP-photoshop:History",
    "XMP-xmpMM:HistorySoftwareAgent",
    "IPTC:OriginatingProgram",
)
CAPTURE_KEYS = (
    "ExifIFD:DateTimeOriginal",
    "XMP-exif:DateTimeOriginal",
    "XMP-photoshop:DateCreated",
)
CREATE_KEYS = ("ExifIFD:CreateDate", "XMP-xmp:CreateDate")
MODIFY_KEYS = ("IFD0:ModifyDate", "XMP-xmp:ModifyDate", "XMP-xmp:MetadataDate")


def parse_date(value: Any) -> datetime | None:
    """'YYYY:MM:DD HH:MM:SS' (EXIF) or ISO-like XMP dates, without time zone or sub-seconds."""
    if not isinstance(value, str):
        return None
    text = value.strip().replace("T", " ")
    for pattern, length in (
        ("%Y:%m:%d %H:%M:%S", 19),
        ("%Y-%m-%d %H:%M:%S", 19),
        ("%Y:%m:%d %H:%M", 16),
        ("%Y-%m-%d %H:%M", 16),
    ):
        try:
            return datetime.strptime(text[:length], pattern)
        except ValueError:
            continue
    return None


def editor_names(tree: MetadataTree) -> list[str]:
    """Software values naming an image editor, each once, with the tag that says so."""
    found = []
    for key in SOFTWARE_KEYS:
        value = tree.get(key)
        for item in value if isinstance(value, list) else [value]:
            text = str(item or "")
            if any(hint in text.lower() for hint in EDITOR_HINTS):
                entry = f"{key} = {text[:80]}"
                if entry not in found:
                    found.append(entry)
    return found


def date_issues(tree: MetadataTree) -> list[str]:
    """Sentences for capture / creation / modification dates that disagree."""
    issues = []
    captured_key = next((k for k in CAPTURE_KEYS if parse_date(tree.get(k))), None)
    if captured_key is None:
        return issues
    captured = parse_date(tree.get(captured_key))
    for key in (*CREATE_KEYS, *MODIFY_KEYS):
        other = parse_date(tree.get(key))
        if other is None or captured is None:
            continue
        delta = (other - captured).total_seconds()
        if abs(delta) > DATE_TOLERANCE_S:
            when = "after" if delta > 0 else "before"
            issues.append(
                f"{key} ({tree.get(key)}) is {_duration(abs(delta))} {when} "
                f"{captured_key} ({tree.get(captured_key)})"
            )
    return issues


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def history_actions(tree: MetadataTree) -> list[str]:
    """XMP editing history entries (Photoshop and Lightroom record each save)."""
    actions = tree.get("XMP-xmpMM:HistoryAction")
    if actions is None:
        history = tree.get("XMP-xmpMM:History")
        if isinstance(history, list):
            actions = [h.get("Action") for h in history if isinstance(h, dict)]
    if actions is None:
        return []
    return [str(a) for a in (actions if isinstance(actions, list) else [actions]) if a]


def has_photoshop_resources(tree: MetadataTree) -> bool:
    return any(group == "Photoshop" or group.startswith("XMP-photoshop") for group in tree.groups)

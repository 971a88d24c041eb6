"""The full metadata tree (EXIF, XMP, IPTC, MakerNotes, ...) through ExifTool when it is
installed (Debian: ``libimage-exiftool-perl``, which ``make`` installs), else the Pillow summary.

ExifTool only reads here: no writing option is ever passed, and the evidence is named by its
absolute path (a name starting with '-' would otherwise be read as an option; ExifTool's ``--`` is
not an end-of-options marker but "exclude tag").
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# -j JSON, -a duplicates kept (a second Software tag is itself a finding), -u unknown tags too,
# -G1 the specific group (IFD0, ExifIFD, XMP-xmp, Photoshop, MakerNotes vendor ...), -struct XMP
# structures as nested JSON instead of flattened lists. Values stay print-converted (readable).
EXIFTOOL_ARGS = ("-j", "-a", "-u", "-G1", "-struct", "-charset", "filename=utf8")
TIMEOUT_S = 30.0
SKIPPED_GROUPS = ("System",)  # our copy's file system facts (dates of the copy, not the photo)


@dataclass
class MetadataTree:
    source: str  # 'exiftool' or 'pillow'
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: str = ""  # why the fallback was used, or ExifTool's version

    def get(self, *keys: str) -> Any:
        """The first value present among 'Group:Tag' keys (None when none is)."""
        for key in keys:
            group, _, tag = key.partition(":")
            value = self.groups.get(group, {}).get(tag)
            if value not in (None, ""):
                return value
        return None

    def tags(self, tag: str) -> list[tuple[str, Any]]:
        """Every (group, value) carrying ``tag`` in any group."""
        return [(g, tags[tag]) for g, tags in self.groups.items() if tag in tags]

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "note": self.note, "groups": self.groups}


def exiftool_path() -> str | None:
    return shutil.which("exiftool")


def run_exiftool(path: str | Path, executable: str, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """ExifTool's JSON record for ``path``; raises RuntimeError (one line) when it fails."""
    target = str(Path(path).resolve())
    try:
        completed = subprocess.run(
            [executable, *EXIFTOOL_ARGS, target],
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"exiftool did not run: {exc}"[:200]) from exc
    try:
        records = json.loads(completed.stdout.decode("utf-8", "replace") or "null")
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"exiftool wrote no JSON (exit {completed.returncode})") from exc
    if not isinstance(records, list) or not records or not isinstance(records[0], dict):
        raise RuntimeError(f"exiftool returned nothing (exit {completed.returncode})")
    return records[0]


def group_tags(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{'IFD0:Make': 'Apple', ...} as {'IFD0': {'Make': 'Apple'}} minus SKIPPED_GROUPS."""
    groups: dict[str, dict[str, Any]] = {}
    for key, value in record.items():
        group, sep, tag = key.partition(":")
        if not sep or group in SKIPPED_GROUPS or key == "ExifTool:ExifToolVersion":
            continue
        groups.setdefault(group, {})[tag] = value
    return groups


def pillow_tree(exif_summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Pillow summary (``core.metadata.exif_summary``) shaped as a tree with the same keys
    the consistency checks read from ExifTool's output."""
    names = {
        "camera_make": "IFD0:Make",
        "camera_model": "IFD0:Model",
        "software": "IFD0:Software",
        "modified": "IFD0:ModifyDate",
        "captured": "ExifIFD:DateTimeOriginal",
        "digitized": "ExifIFD:CreateDate",
        "lens": "ExifIFD:LensModel",
        "orientation": "IFD0:Orientation",
    }
    groups: dict[str, dict[str, Any]] = {}
    for key, value in exif_summary.items():
        group, _, tag = names.get(key, f"Pillow:{key}").partition(":")
        groups.setdefault(group, {})[tag] = value
    return groups


def read_metadata(path: str | Path, exif_summary: dict[str, Any]) -> MetadataTree:
    """ExifTool's tree when ``exiftool`` is on PATH and works, else the Pillow summary."""
    executable = exiftool_path()
    if executable is None:
        return MetadataTree(
            "pillow", pillow_tree(exif_summary), "ExifTool not installed: Pillow's EXIF summary"
        )
    try:
        record = run_exiftool(path, executable)
    except RuntimeError as exc:
        return MetadataTree("pillow", pillow_tree(exif_summary), f"{exc}; Pillow's EXIF summary")
    version = record.get("ExifTool:ExifToolVersion")
    return MetadataTree("exiftool", group_tags(record), f"ExifTool {version}")

"""Thumbnail and metadata analysis on made-up EXIF blocks (a right and a wrong thumbnail)."""

from __future__ import annotations

import io
import json
import shutil
import struct

import numpy as np
import pytest
from PIL import Image

from forensic_viewer.core import exiftool
from forensic_viewer.core.analyses import REGISTRY, run_analysis
from forensic_viewer.core.exiftool import MetadataTree
from forensic_viewer.core.images import load_image
from forensic_viewer.core.metadata_checks import date_issues, editor_names, parse_date
from forensic_viewer.core.thumbnail import exif_thumbnail_bytes


def _entry(tag: int, kind: int, count: int, value: int) -> bytes:
    return struct.pack("<HHII", tag, kind, count, value)


def exif_block(thumbnail: bytes, software: str, modified: str, captured: str) -> bytes:
    """Little-endian EXIF: IFD0 (Software, ModifyDate, Exif pointer) -> Exif IFD
    (DateTimeOriginal) and IFD1 (a JPEG thumbnail)."""
    strings = [s.encode() + b"\0" for s in (software, modified, captured)]
    ifd0_at = 8
    exif_at = ifd0_at + 2 + 3 * 12 + 4
    ifd1_at = exif_at + 2 + 12 + 4
    data_at = ifd1_at + 2 + 3 * 12 + 4
    offsets = [data_at, data_at + len(strings[0]), data_at + len(strings[0]) + len(strings[1])]
    thumb_at = offsets[2] + len(strings[2])
    ifd0 = struct.pack("<H", 3) + _entry(0x0131, 2, len(strings[0]), offsets[0])
    ifd0 += _entry(0x0132, 2, len(strings[1]), offsets[1]) + _entry(0x8769, 4, 1, exif_at)
    ifd0 += struct.pack("<I", ifd1_at)
    exif = struct.pack("<H", 1) + _entry(0x9003, 2, len(strings[2]), offsets[2])
    exif += struct.pack("<I", 0)
    ifd1 = struct.pack("<H", 3) + struct.pack("<HHHxxI", 0x0103, 3, 1, 6)
    ifd1 += _entry(0x0201, 4, 1, thumb_at) + _entry(0x0202, 4, 1, len(thumbnail))
    ifd1 += struct.pack("<I", 0)
    tiff = b"II*\0" + struct.pack("<I", ifd0_at) + ifd0 + exif + ifd1 + b"".join(strings)
    return b"Exif\0\0" + tiff + thumbnail


def jpeg(pixels: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90, **kwargs)
    return buffer.getvalue()


def scene() -> np.ndarray:
    y, x = np.mgrid[0:480, 0:640]
    pixels = np.stack([(x * 0.3 + y * 0.2) % 256, 128 + 100 * np.sin(x / 40.0), (y * 0.5) % 256])
    pixels = np.moveaxis(pixels, 0, -1).astype(np.uint8)
    pixels[100:200, 300:450] = (250, 30, 30)
    return pixels


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("thumbs")
    original = scene()
    thumbnail = jpeg(np.asarray(Image.fromarray(original).resize((160, 120), Image.LANCZOS)))
    edited = original.copy()
    edited[100:200, 300:450] = (30, 200, 30)  # recoloured after the thumbnail was written
    exif = exif_block(thumbnail, "Adobe Photoshop CS6", "2020:01:02 10:00:00",
                      "2020:01:01 09:00:00")  # fmt: skip
    paths = {"matching": folder / "matching.jpg", "edited": folder / "edited.jpg"}
    paths["matching"].write_bytes(jpeg(original, exif=exif))
    paths["edited"].write_bytes(jpeg(edited, exif=exif))
    paths["bare"] = folder / "bare.png"
    Image.fromarray(original).save(paths["bare"])
    paths["thumbnail"] = thumbnail
    return paths


def run(path):
    return run_analysis(REGISTRY["thumbnail"], load_image(path))


def test_thumbnail_is_read_back_exactly(files):
    assert exif_thumbnail_bytes(files["matching"]) == files["thumbnail"]
    assert exif_thumbnail_bytes(files["bare"]) is None


def test_matching_thumbnail(files):
    result = run(files["matching"])
    thumb = result.data["thumbnail"]
    assert thumb["mismatch"] is False and thumb["fit"] == "stretch" and thumb["quarter_turns"] == 0
    assert (thumb["width"], thumb["height"]) == (160, 120)
    assert result.score < 5.0
    assert result.cell == 4 and result.image.shape == (120, 160)
    assert set(result.extra_images) == {"thumbnail", "image at thumbnail size", "difference"}
    assert not any("does not match" in f.text for f in result.findings)
    json.dumps(result.as_dict())


def test_wrong_thumbnail_is_flagged_where_it_differs(files):
    result = run(files["edited"])
    assert result.data["thumbnail"]["mismatch"] is True
    assert result.data["thumbnail"]["local_difference"] > 150
    warnings = [f.text for f in result.findings if f.severity == "warning"]
    assert any(t.startswith("The EXIF thumbnail does not match") for t in warnings)
    # the brightest cells of the map (4 px each) cover the recoloured rectangle (x 300-450,
    # y 100-200), give or take the thumbnail's blur of 2 thumbnail pixels (8 px)
    rows, cols = np.nonzero(result.image >= 0.99)
    assert 92 <= rows.min() * 4 <= 108 and 192 <= (rows.max() + 1) * 4 <= 208
    assert 292 <= cols.min() * 4 <= 308 and 442 <= (cols.max() + 1) * 4 <= 458


def test_editor_and_dates_flagged_through_exiftool(files):
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool not installed")
    result = run(files["matching"])
    metadata = result.data["metadata"]
    assert metadata["source"] == "exiftool"
    assert metadata["groups"]["IFD1"]["ThumbnailLength"] == len(files["thumbnail"])
    assert "System" not in metadata["groups"]
    assert result.data["editor_software"] == ["IFD0:Software = Adobe Photoshop CS6"]
    assert result.data["date_issues"] == [
        "IFD0:ModifyDate (2020:01:02 10:00:00) is 25.0 h after ExifIFD:DateTimeOriginal "
        "(2020:01:01 09:00:00)"
    ]


def test_pillow_fallback_without_exiftool(files, monkeypatch):
    monkeypatch.setattr(exiftool.shutil, "which", lambda name: None)
    result = run(files["edited"])
    metadata = result.data["metadata"]
    assert metadata["source"] == "pillow"
    assert metadata["groups"]["IFD0"]["Software"] == "Adobe Photoshop CS6"
    assert result.data["editor_software"] == ["IFD0:Software = Adobe Photoshop CS6"]
    assert len(result.data["date_issues"]) == 1
    assert result.data["thumbnail"]["mismatch"] is True
    assert result.findings[-1].text.startswith("Metadata from ExifTool not installed")


def test_no_thumbnail(files, monkeypatch):
    monkeypatch.setattr(exiftool.shutil, "which", lambda name: None)
    result = run(files["bare"])
    assert result.image is None and result.score is None
    assert result.data["thumbnail"] == {"present": False}
    assert [f.text for f in result.findings][0] == "No EXIF thumbnail."


def test_date_and_editor_rules():
    assert parse_date("2020:01:02 10:00:00").hour == 10
    assert parse_date("2020-01-02T10:00:00+02:00").day == 2
    assert parse_date("0000:00:00 00:00:00") is None
    tree = MetadataTree("exiftool", {
        "IFD0": {"ModifyDate": "2020:01:01 09:00:01", "Software": "GIMP 2.10"},
        "ExifIFD": {"DateTimeOriginal": "2020:01:01 09:00:00", "CreateDate": "2019:12:31 09:00:00"},
        "XMP-xmp": {"CreatorTool": "Adobe Photoshop Lightroom"},
    })  # fmt: skip
    assert date_issues(tree) == [
        "ExifIFD:CreateDate (2019:12:31 09:00:00) is 24.0 h before ExifIFD:DateTimeOriginal "
        "(2020:01:01 09:00:00)"
    ]  # a 1 s ModifyDate gap is within the tolerance
    assert editor_names(tree) == [
        "IFD0:Software = GIMP 2.10",
        "XMP-xmp:CreatorTool = Adobe Photoshop Lightroom",
    ]

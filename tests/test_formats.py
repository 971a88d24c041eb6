"""Real-world and odd files (issue 12, items 7, 9, 10, 11): LAB and float TIFFs, 12-bit JPEGs,
large PNG text chunks, iPhone-style MPF JPEGs, HEIC/AVIF, and cut-off JPEGs."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from forensic_viewer.core.ela import ela
from forensic_viewer.core.errors import (
    CorruptImageError,
    MetadataTooLargeError,
    UnsupportedFormatError,
)
from forensic_viewer.core.images import (
    IMAGE_SUFFIXES,
    is_image_path,
    load_image,
    pad_missing_rows,
)
from forensic_viewer.core.jpeg_stream import describe_rows, frame_precision


def photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 3 % 256, yy * 5 % 256, (xx + 2 * yy) % 256], 2)
    return np.clip(base + rng.integers(-12, 13, base.shape), 0, 255).astype(np.uint8)


def jpeg(array: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", **{"quality": 90, **kwargs})
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def full_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def scan_start(data: bytes) -> int:
    sos = data.index(b"\xff\xda")
    return sos + 2 + struct.unpack(">H", data[sos + 2 : sos + 4])[0]


# ---- item 7: notes that misled ----------------------------------------------------------------


def test_lab_tiff_is_not_called_transparent(tmp_path):
    image = Image.fromarray(photo(20, 12)).convert("LAB")
    image.save(tmp_path / "lab.tif")
    loaded = load_image(tmp_path / "lab.tif")
    assert loaded.facts.mode == "LAB"
    assert not any("Transparency" in note for note in loaded.facts.notes)
    assert np.array_equal(loaded.pixels, np.asarray(image.convert("RGB")))


def test_real_alpha_is_still_noted(tmp_path):
    Image.fromarray(photo(8, 8)).convert("RGBA").save(tmp_path / "a.png")
    notes = load_image(tmp_path / "a.png").facts.notes
    assert "Transparency ignored: colour values are analysed as stored" in notes


def test_float_tiff_with_infinities_scales_the_finite_values(tmp_path):
    data = np.array([[0.0, 1.0, 2.0, 4.0], [np.inf, -np.inf, np.nan, 3.0]], dtype=np.float32)
    Image.fromarray(data, mode="F").save(tmp_path / "f.tif")
    loaded = load_image(tmp_path / "f.tif")
    gray = loaded.pixels[:, :, 0]
    # finite range [0, 4] -> 0..255 (truncated like the other stretches); +inf white, -inf/NaN black
    assert gray.tolist() == [[0, 63, 127, 255], [255, 0, 0, 191]]
    assert (
        "F image stretched from [0, 4] to 8 bits (finite values only; 1 +inf shown white, "
        "1 -inf shown black, 1 NaN shown black)"
    ) in loaded.facts.notes


def test_float_tiff_without_infinities_keeps_its_note(tmp_path):
    data = np.array([[-1.0, 1.0]], dtype=np.float32)
    Image.fromarray(data, mode="F").save(tmp_path / "f.tif")
    loaded = load_image(tmp_path / "f.tif")
    assert loaded.pixels[0, :, 0].tolist() == [0, 255]
    assert loaded.facts.notes == ("F image stretched from [-1, 1] to 8 bits",)


def twelve_bit(data: bytes) -> bytes:
    """A JPEG whose frame header declares 12-bit samples (SOF1, extended sequential)."""
    patched = bytearray(data)
    sof = patched.index(b"\xff\xc0")
    patched[sof + 1] = 0xC1
    patched[sof + 4] = 12
    return bytes(patched)


def test_twelve_bit_jpeg_is_named_not_called_unknown(tmp_path):
    data = twelve_bit(jpeg(photo(16, 16)))
    assert frame_precision(data) == 12
    with pytest.raises(UnsupportedFormatError) as caught:
        load_image(write(tmp_path / "deep.jpg", data))
    assert str(caught.value) == (
        "deep.jpg: this image format or pixel layout is not supported "
        "(12-bit JPEG: the decoder reads only 8-bit JPEGs)"
    )


def png_with_ztxt(array: np.ndarray, text_bytes: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    data = buffer.getvalue()
    payload = b"XML:com.adobe.xmp\x00\x00" + zlib.compress(b"x" * text_bytes, 9)
    chunk = struct.pack(">I", len(payload)) + b"zTXt" + payload
    chunk += struct.pack(">I", zlib.crc32(b"zTXt" + payload) & 0xFFFFFFFF)
    ihdr_end = 8 + 25  # signature + IHDR chunk
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def test_png_with_a_large_ztxt_chunk_opens(tmp_path):
    array = photo(10, 6)
    loaded = load_image(write(tmp_path / "xmp.png", png_with_ztxt(array, 5 * 1024 * 1024)))
    assert np.array_equal(loaded.pixels, array)
    assert loaded.facts.format == "PNG"


def test_png_text_bomb_is_refused_as_what_it_is(tmp_path):
    path = write(tmp_path / "bomb.png", png_with_ztxt(photo(10, 6), 40 * 1024 * 1024))
    with pytest.raises(MetadataTooLargeError) as caught:
        load_image(path)
    assert str(caught.value) == (
        "bomb.png: its metadata is too large to read safely (possible decompression bomb) "
        "(a PNG text chunk decompresses to more than 32 MB)"
    )


def test_png_text_chunks_adding_up_past_the_limit_are_named(tmp_path):
    data = png_with_ztxt(photo(10, 6), 30 * 1024 * 1024)
    ihdr_end = 8 + 25
    chunk = data[ihdr_end : data.index(b"IDAT") - 4]
    path = write(tmp_path / "many.png", data[:ihdr_end] + chunk * 3 + data[ihdr_end:])
    with pytest.raises(MetadataTooLargeError) as caught:
        load_image(path)
    assert str(caught.value).endswith("(the PNG text chunks add up to more than 64 MB)")


# ---- item 9: JPEGs with an MPF index (Pillow's "MPO") ----------------------------------------


def iphone_like_mpo(path: Path, primary: np.ndarray, exif: Image.Exif | None = None) -> Path:
    """A primary JPEG plus an HDR gain map (Apple's aux URN in its XMP) and a large thumbnail."""
    gain = Image.fromarray(photo(32, 24, seed=5)[:, :, 0])
    gain.encoderinfo = {"xmp": b"<x:xmpmeta>urn:com:apple:photo:2020:aux:hdrgainmap</x:xmpmeta>"}
    depth = Image.fromarray(photo(20, 14, seed=6)[:, :, 1])
    depth.encoderinfo = {"xmp": b"<x:xmpmeta>urn:com:apple:photo:2018:aux:depth</x:xmpmeta>"}
    extra = {"exif": exif} if exif is not None else {}
    Image.fromarray(primary).save(
        path, format="MPO", save_all=True, append_images=[gain, depth], quality=90, **extra
    )
    return path


def test_mpo_primary_is_analysed_as_the_jpeg_it_is(tmp_path):
    primary = photo(64, 48)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Apple", "iPhone 13 Pro"
    path = iphone_like_mpo(tmp_path / "IMG_0001.JPG", primary, exif)
    with Image.open(path) as check:
        assert check.format == "MPO" and check.n_frames == 3  # what Pillow says
    loaded = load_image(path)
    facts = loaded.facts
    assert (facts.format, facts.frames, facts.size) == ("JPEG", 1, (64, 48))
    assert facts.jpeg is not None and facts.jpeg.subsampling == "4:2:0"
    assert facts.jpeg.quality.quality == 90 and facts.jpeg.quality.standard
    said = " ".join(facts.notes + tuple(facts.warnings))
    assert "not a JPEG" not in said and "frames" not in said
    assert facts.notes == (
        "JPEG with 2 embedded image(s) in an MPF index (Pillow calls it MPO): the primary image "
        "is analysed",
    )
    assert [(e.index, e.kind, e.width, e.height) for e in facts.embedded] == [
        (2, "HDR gain map", 32, 24),
        (3, "depth map", 20, 14),
    ]
    data = path.read_bytes()
    for item in facts.embedded:  # offsets and lengths point at the embedded JPEGs
        chunk = data[item.offset : item.offset + item.length]
        assert chunk[:2] == b"\xff\xd8" and chunk[-2:] == b"\xff\xd9"
    assert facts.as_dict()["embedded_images"][0] == {
        "index": 2,
        "kind": "HDR gain map",
        "width": 32,
        "height": 24,
        "offset": facts.embedded[0].offset,
        "bytes": facts.embedded[0].length,
    }
    # the pixels and the ELA are the primary JPEG's own
    plain = write(tmp_path / "plain.jpg", jpeg(primary))
    assert np.array_equal(loaded.pixels, load_image(plain).pixels)
    assert np.array_equal(ela(loaded.pixels, 90).diff, ela(load_image(plain).pixels, 90).diff)


def test_mpo_suffix_and_embedded_image_kinds(tmp_path):
    from forensic_viewer.core.mpf import _kind

    assert is_image_path(tmp_path / "stereo.MPO")
    path = iphone_like_mpo(tmp_path / "stereo.mpo", photo(40, 30))
    embedded = load_image(path).facts.embedded
    assert embedded[0].describe() == f"HDR gain map, 32 x 24 px, {embedded[0].length:,} bytes"
    # the MPF type when the index names one, else what the embedded image's metadata says
    assert _kind("Large Thumbnail (VGA Equivalent)", b"") == "large thumbnail"
    assert _kind("Multi-Frame Image: (Disparity)", b"hdrgm") == "stereo view (disparity)"
    assert _kind("Undefined", b'<rdf:Description hdrgm:Version="1.0"/>') == "HDR gain map"
    assert _kind("Undefined", b"urn:com:apple:photo:2018:aux:portraitEffectsMatte") == (
        "portrait matte"
    )
    assert _kind("Undefined", b"\xff\xd8\xff\xdb") == "unnamed image"


# ---- item 10: HEIC/HEIF and AVIF -------------------------------------------------------------


def camera_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Apple", "iPhone 15", "17.1"
    return exif.tobytes()


@pytest.mark.parametrize(
    ("suffix", "fmt", "codec"), [(".heic", "HEIF", "HEVC"), (".avif", "AVIF", "AV1")]
)
def test_heic_and_avif_open_with_metadata_and_an_honest_warning(tmp_path, suffix, fmt, codec):
    array = photo(64, 48)
    path = tmp_path / f"IMG_0002{suffix}"
    Image.fromarray(array).save(path, exif=camera_exif(), quality=90)
    assert is_image_path(path)
    loaded = load_image(path)
    facts = loaded.facts
    assert (facts.format, facts.mode, facts.size, facts.jpeg) == (fmt, "RGB", (64, 48), None)
    assert loaded.pixels.shape == (48, 64, 3)
    # lossy, but close to what was encoded (not garbage)
    assert np.abs(loaded.pixels.astype(int) - array).mean() < 12
    assert (facts.exif["camera_make"], facts.exif["camera_model"]) == ("Apple", "iPhone 15")
    assert facts.exif["software"] == "17.1"
    assert facts.warnings == [
        f"{fmt} is not a JPEG ({codec}-compressed): ELA and the JPEG network do not apply, so "
        "no verdict on it can be more than inconclusive; the picture and its metadata are shown"
    ]


def test_folder_mode_keeps_new_suffixes(tmp_path):
    for suffix in (".heic", ".heif", ".hif", ".avif", ".mpo", ".HEIC"):
        assert is_image_path(tmp_path / f"a{suffix}"), suffix
    assert {".heic", ".heif", ".avif", ".mpo"} <= IMAGE_SUFFIXES


def test_cli_predict_folder_scan_lists_heic_avif_mpo(tmp_path):
    from forensic_viewer.cli_predict import collect_files
    from forensic_viewer.ui.viewer.document import expand_paths

    names = ["a.heic", "b.avif", "c.mpo", "d.jpg", "e.txt"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    found = sorted(p.name for p in collect_files([tmp_path], recursive=False))
    assert found == ["a.heic", "b.avif", "c.mpo", "d.jpg"]
    files, _messages = expand_paths([tmp_path])
    found = sorted(p.name for p in files)
    assert found == ["a.heic", "b.avif", "c.mpo", "d.jpg"]


# ---- item 11: cut-off JPEGs ------------------------------------------------------------------


def test_describe_rows():
    assert describe_rows(1232, 2160) == "rows 0-1231 of 2160 decoded (57%)"
    assert describe_rows(2150, 2160) == "rows 0-2149 of 2160 decoded (99.5%)"
    assert describe_rows(2159, 2160) == "rows 0-2158 of 2160 decoded (99.9%)"
    assert describe_rows(99999, 100000) == "rows 0-99998 of 100000 decoded (99.9%)"
    assert describe_rows(7, 7) == "rows 0-6 of 7 decoded (100%)"


def test_half_a_jpeg_opens_with_its_real_rows(tmp_path):
    data = jpeg(photo(256, 200))
    cut = data[: len(data) // 2]
    loaded = load_image(write(tmp_path / "cut.jpg", cut))
    facts = loaded.facts
    assert facts.size == (256, 200) and facts.truncated
    rows = facts.decoded_rows
    assert rows == 94
    assert loaded.pixels.shape == (rows, 256, 3)
    assert np.array_equal(loaded.pixels, full_decode(data)[:rows])
    assert facts.describe_decoded() == "rows 0-93 of 200 decoded (47%)"
    assert (
        "Truncated file: rows 0-93 of 200 decoded (47%); the rest is missing. ELA and the "
        "verdict cover only the decoded rows"
    ) in facts.warnings
    assert facts.as_dict()["decoded_rows"] == 94


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fraction=st.floats(0.0, 1.0),
    subsampling=st.sampled_from([0, 1, 2]),
    gray=st.booleans(),
)
def test_any_cut_gives_only_real_rows(tmp_path, fraction, subsampling, gray):
    array = photo(72, 56, seed=3)
    data = jpeg(array[:, :, 0] if gray else array, subsampling=subsampling)
    start = scan_start(data)
    cut = start + int(fraction * (len(data) - 2 - start))
    path = write(tmp_path / "cut.jpg", data[:cut])
    truth = full_decode(data)
    try:
        loaded = load_image(path)
    except CorruptImageError as exc:
        assert "before the first complete row" in str(exc)
        return
    rows = loaded.facts.decoded_rows
    if rows is None:  # only the end marker was cut
        assert cut == len(data) - 2
        assert np.array_equal(loaded.pixels, truth)
    else:
        assert 0 < rows < 56
        assert np.array_equal(loaded.pixels, truth[:rows])


def test_missing_end_marker_loses_nothing(tmp_path):
    data = jpeg(photo(96, 80))
    loaded = load_image(write(tmp_path / "noeoi.jpg", data[:-2]))
    assert loaded.facts.decoded_rows is None and not loaded.facts.truncated
    assert np.array_equal(loaded.pixels, full_decode(data))
    assert "JPEG end marker missing: every row is present and was decoded" in loaded.facts.notes


def test_restart_markers_are_not_guessed_complete(tmp_path):
    data = jpeg(photo(96, 80), restart_marker_rows=1)
    assert b"\xff\xdd" in data[: scan_start(data)]
    loaded = load_image(write(tmp_path / "rst.jpg", data[:-2]))
    rows = loaded.facts.decoded_rows
    assert rows is not None and 0 < rows < 80
    assert np.array_equal(loaded.pixels, full_decode(data)[:rows])


def test_cut_progressive_jpeg_opens_coarse_and_says_so(tmp_path):
    import simplejpeg

    data = jpeg(photo(64, 48), progressive=True)
    cut = data[: len(data) * 2 // 3]
    scans = cut.count(b"\xff\xda")
    assert 1 < scans < data.count(b"\xff\xda")
    loaded = load_image(write(tmp_path / "prog.jpg", cut))
    assert loaded.facts.decoded_rows is None and loaded.pixels.shape == (48, 64, 3)
    # the picture libjpeg-turbo itself builds from the scans that arrived, close to the original
    assert np.array_equal(
        loaded.pixels, simplejpeg.decode_jpeg(cut, colorspace="RGB", strict=False)
    )
    assert np.abs(loaded.pixels.astype(int) - full_decode(data)).mean() < 8
    assert loaded.facts.notes == (
        f"JPEG data is corrupt (progressive JPEG cut off in scan {scans}): the picture is built "
        "from the scans that arrived; unless only the end marker was lost, every row is coarser "
        "than the original and the ELA shows the decoder's guess",
    )


def test_progressive_jpeg_missing_only_its_end_marker(tmp_path):
    data = jpeg(photo(64, 48), progressive=True)
    loaded = load_image(write(tmp_path / "prog.jpg", data[:-2]))
    assert np.array_equal(loaded.pixels, full_decode(data))  # every scan was there
    assert loaded.facts.notes[0].startswith("JPEG data is corrupt (progressive JPEG cut off in")


def test_pad_missing_rows_marks_the_missing_part():
    decoded = np.full((3, 4, 3), 200, np.uint8)
    hatched = pad_missing_rows(decoded, 30)
    assert hatched.shape == (30, 4, 3)
    assert np.array_equal(hatched[:3], decoded)
    assert set(np.unique(hatched[3:])) == {48, 96}  # two grey stripes, no photo colour
    blank = pad_missing_rows(decoded[:, :, 0], 5, hatch=False)
    assert blank.shape == (5, 4) and not blank[3:].any()
    assert pad_missing_rows(decoded, 3) is decoded

"""load_image: mode policy, typed errors for bad input, read-only access, EXIF orientation."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import casia_files, needs_casia
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from forensic_viewer.core.errors import (
    CorruptImageError,
    EmptyFileError,
    ImageLoadError,
    NotAnImageError,
    TooManyPixelsError,
    UnreadableFileError,
)
from forensic_viewer.core.images import load_image, orient, sha256_file


def save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def gradient(width=24, height=16) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 10 % 256, yy * 15 % 256, (xx + yy) * 5 % 256], 2).astype(np.uint8)


def test_rgb_jpeg_facts(tmp_path):
    path = save(Image.fromarray(gradient()), tmp_path / "a.jpg", quality=83)
    loaded = load_image(path)
    assert loaded.pixels.shape == (16, 24, 3) and loaded.pixels.dtype == np.uint8
    facts = loaded.facts
    assert (facts.format, facts.mode, facts.width, facts.height) == ("JPEG", "RGB", 24, 16)
    assert facts.frames == 1 and facts.orientation == 1
    assert facts.jpeg.quality.quality == 83 and facts.jpeg.quality.standard
    assert facts.jpeg.subsampling == "4:2:0" and not facts.jpeg.progressive
    assert facts.sha256 == sha256_file(path) and facts.file_size == path.stat().st_size
    assert np.array_equal(loaded.pixels, np.asarray(Image.open(path).convert("RGB")))


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "CMYK", "1", "P"])
def test_modes_convert_like_pillow_convert_rgb(tmp_path, mode):
    image = Image.fromarray(gradient()).convert(mode)
    path = save(image, tmp_path / f"m_{mode}.{'jpg' if mode == 'CMYK' else 'png'}")
    loaded = load_image(path)
    assert loaded.facts.mode == mode
    assert np.array_equal(loaded.pixels, np.asarray(Image.open(path).convert("RGB")))
    if "A" in mode:
        assert any("Transparency" in note for note in loaded.facts.notes)


def test_palette_with_transparency(tmp_path):
    image = Image.fromarray(gradient()).convert("P")
    path = save(image, tmp_path / "p.png", transparency=0)
    loaded = load_image(path)
    assert loaded.facts.mode == "P"
    assert loaded.pixels.shape == (16, 24, 3)
    assert any("Transparency" in note for note in loaded.facts.notes)


def test_sixteen_bit_keeps_high_byte(tmp_path):
    data = (np.arange(16 * 24, dtype=np.uint16).reshape(16, 24) * 170).astype(np.uint16)
    path = save(Image.fromarray(data), tmp_path / "deep.png")
    loaded = load_image(path)
    assert loaded.facts.mode.startswith("I")
    expected = (data >> 8).astype(np.uint8)
    assert np.array_equal(loaded.pixels[:, :, 0], expected)
    assert np.array_equal(loaded.pixels[:, :, 2], expected)
    assert any("16-bit" in note for note in loaded.facts.notes)


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "green", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    loaded = load_image(path)
    assert loaded.facts.frames == 3
    assert tuple(loaded.pixels[0, 0]) == (255, 0, 0)
    assert any("3 frames" in note for note in loaded.facts.notes)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_reported_and_applied_for_display_only(tmp_path, orientation):
    image = Image.fromarray(gradient(24, 16))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save(image, tmp_path / f"o{orientation}.png", exif=exif)
    loaded = load_image(path)
    assert loaded.facts.orientation == orientation
    assert np.array_equal(loaded.pixels, gradient(24, 16))
    from PIL import ImageOps

    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert np.array_equal(loaded.display_pixels(), expected)


def test_orient_identity():
    array = gradient()
    assert orient(array, 1) is array


def test_zero_bytes(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="empty.jpg: the file is empty"):
        load_image(path)


def test_text_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("hello, this is not a photo\n")
    with pytest.raises(NotAnImageError, match="notes.jpg: not an image"):
        load_image(path)


@pytest.mark.parametrize(("fraction", "rows"), [(0.1, None), (0.5, 14), (0.9, 46)])
def test_truncated_jpeg(tmp_path, fraction, rows):
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    data = buffer.getvalue()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * fraction)])
    if rows is None:  # not one whole row of pixels is there
        with pytest.raises(ImageLoadError) as info:
            load_image(path)
        assert isinstance(info.value, CorruptImageError | NotAnImageError)
        assert "cut.jpg" in str(info.value)
        return
    loaded = load_image(path)  # the whole rows that are there open; the rest is marked missing
    assert loaded.facts.decoded_rows == rows and loaded.facts.size == (64, 64)
    with Image.open(io.BytesIO(data)) as full:
        assert np.array_equal(loaded.pixels, np.asarray(full.convert("RGB"))[:rows])


def test_png_with_bad_crc(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(gradient()).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    idat = data.index(b"IDAT")
    data[idat + 6] ^= 0xFF
    path = tmp_path / "crc.png"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptImageError, match="crc.png"):
        load_image(path)


def png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(60000, 60000))
    with pytest.raises(TooManyPixelsError, match="3600 MP"):
        load_image(path)
    small = tmp_path / "small.png"
    Image.fromarray(gradient()).save(small)
    with pytest.raises(TooManyPixelsError):
        load_image(small, max_pixels=100)


def test_missing_folder_unreadable_and_symlink_loop(tmp_path):
    with pytest.raises(UnreadableFileError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(UnreadableFileError, match="folder"):
        load_image(tmp_path)
    loop = tmp_path / "loop.jpg"
    os.symlink(loop, loop)
    with pytest.raises(UnreadableFileError):
        load_image(loop)
    if os.geteuid() != 0:  # root reads anything
        locked = save(Image.fromarray(gradient()), tmp_path / "locked.png")
        locked.chmod(0)
        with pytest.raises(UnreadableFileError, match="permission"):
            load_image(locked)


def test_non_ascii_path_with_spaces(tmp_path):
    path = save(Image.fromarray(gradient()), tmp_path / "évidence photo ü 证据.jpg")
    assert load_image(path).facts.width == 24


def test_nothing_written_beside_evidence(tmp_path):
    path = save(Image.fromarray(gradient()), tmp_path / "e.jpg")
    before = sorted(os.listdir(tmp_path)), sha256_file(path)
    load_image(path)
    assert (sorted(os.listdir(tmp_path)), sha256_file(path)) == before


@needs_casia
def test_casia_facts():
    for path in casia_files(step=101):
        facts = load_image(path).facts
        assert facts.format == "JPEG" and facts.jpeg is not None
        assert facts.jpeg.subsampling in ("4:2:0", "4:4:4", "4:2:2")
        assert 1 <= facts.jpeg.quality.quality <= 100


def seed_files() -> list[bytes]:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    seeds = []
    for fmt, kwargs in (("JPEG", {"quality": 80}), ("PNG", {}), ("JPEG", {"progressive": True})):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, fmt, **kwargs)
        seeds.append(buffer.getvalue())
    return seeds


SEEDS = seed_files()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.sampled_from(range(len(SEEDS))),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, 10_000),
)
def test_fuzz_only_typed_errors_escape(tmp_path, seed, edits, cut):
    data = bytearray(SEEDS[seed])
    for position, value in edits:
        data[position % len(data)] = value
    data = data[: max(1, len(data) - cut % len(data))]
    path = tmp_path / "fuzz.bin"
    path.write_bytes(bytes(data))
    try:
        loaded = load_image(path)
    except ImageLoadError as exc:
        assert str(exc).startswith("fuzz.bin: ")
        return
    from forensic_viewer.core.ela import ela

    assert ela(loaded.pixels, 90).rendering.shape == loaded.pixels.shape

"""A bad-input corpus generated on the spot (never downloaded), shared by the CLI and GUI tests.

``make_corpus(folder)`` writes every case into ``folder`` and returns them as ``BadInput``
records saying what a correct program does with each: refuse it with a typed error naming the
file (``error`` set), or open it (``opens``) with the stated facts. Opening must give the pixels
Pillow's ``Image.open(p).convert("RGB")`` gives (frame 0, stored grid) unless ``oracle`` says
otherwise; ``expected_rgb(case)`` returns them.

Cases: zero bytes, text named .jpg, truncated JPEG at several cut points (those with whole rows
open with only those rows), JPEG with corrupt
Huffman data, PNG with a bad CRC, decompression bombs (PNG and JPEG headers declaring ~10^10
pixels), 1x1, 65000x1, CMYK JPEG, 16-bit PNG, palette with transparency, LA, EXIF orientations
1-8, animated GIF, multi-page TIFF, a mode-000 file, non-ASCII names with spaces, a name that is
not valid UTF-8, a symlink loop, a dangling symlink, a folder and a FIFO named like images.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from forensic_viewer.core.errors import (
    CorruptImageError,
    EmptyFileError,
    ImageLoadError,
    NotAnImageError,
    TooManyPixelsError,
    UnreadableFileError,
)

RUNNING_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@dataclass(frozen=True)
class BadInput:
    id: str
    path: Path
    error: tuple[type[ImageLoadError], ...] = ()
    """Acceptable error types when the file must be refused; empty when it must open."""
    size: tuple[int, int] | None = None
    """(width, height) of the stored pixel grid when it opens."""
    mode: str | None = None
    frames: int = 1
    orientation: int = 1
    oracle: str = "pillow"
    """How to get the right pixels: 'pillow' (convert('RGB') of frame 0) or 'high-byte' (16-bit)."""
    decoded_rows: int | None = None
    """For a cut-off JPEG that opens: how many rows from the top decode (None: all of them)."""
    original: bytes | None = field(default=None, repr=False)
    """The uncut file of a cut-off case: its full decode is the oracle for the decoded rows."""
    corrupt_but_decodable: bool = False
    """libjpeg decodes it with warnings: a correct program refuses it or says it is corrupt."""
    evidence: bool = True
    """A regular file whose bytes (SHA-256) must not change; False for links, folders, FIFOs."""
    notes: list[str] = field(default_factory=list)

    @property
    def opens(self) -> bool:
        return not self.error


def gradient(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Photo-like content: smooth ramps plus noise, asymmetric so rotations are visible."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 3 % 256, yy * 5 % 256, (xx + 2 * yy) % 256], 2)
    noisy = base + rng.integers(-12, 13, base.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def jpeg_bytes(array: np.ndarray, quality: int = 90, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=quality, **kwargs)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height RGB pixels, with almost no data behind it."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1024, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )


def jpeg_bomb(width: int, height: int) -> bytes:
    """A real JPEG whose SOF0 frame header is patched to declare width x height."""
    data = bytearray(jpeg_bytes(gradient(16, 16)))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def corrupt_huffman(data: bytes) -> bytes:
    """Overwrite the middle of the entropy-coded scan with all-ones codes (invalid Huffman)."""
    sos = data.index(b"\xff\xda")
    scan_start = sos + 2 + struct.unpack(">H", data[sos + 2 : sos + 4])[0]
    middle = scan_start + (len(data) - 2 - scan_start) // 2
    junk = b"\xff\x00" * 16  # 0xFF stuffed as FF 00: sixteen 1-bits, no valid code
    return data[:middle] + junk + data[middle + len(junk) :]


def png_with_bad_crc(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[data.index(b"IDAT") + 6] ^= 0xFF
    return bytes(data)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _save(image: Image.Image, path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def truncation_points(data: bytes) -> dict[str, int]:
    """Cut points at the structural places a download or copy stops: header, scan, near the end."""
    sos = data.index(b"\xff\xda")
    return {
        "soi-only": 2,
        "in-headers": 20,
        "before-scan": sos - 10,
        "scan-start": sos + 14,
        "quarter": len(data) // 4,
        "half": len(data) // 2,
        "three-quarters": len(data) * 3 // 4,
        "no-eoi": len(data) - 2,
    }


# Whole rows libjpeg decodes from the corpus photo (128x96, 4:2:0, q90) cut at each point; the
# other cut points leave no complete row (or no image at all). "no-eoi" loses only the end marker.
DECODED_ROWS = {"half": 30, "three-quarters": 62, "no-eoi": None}


def make_corpus(folder: Path) -> list[BadInput]:
    """Write every case under ``folder`` (created) and return them in a stable order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    photo = gradient(128, 96)
    photo_jpeg = jpeg_bytes(photo)
    cases: list[BadInput] = []
    add = cases.append

    add(BadInput("zero-bytes", _write(folder / "empty.jpg", b""), (EmptyFileError,)))
    add(
        BadInput(
            "text-named-jpg",
            _write(folder / "notes.jpg", b"Meeting notes, not a photo.\n" * 20),
            (NotAnImageError,),
        )
    )
    for label, cut in truncation_points(photo_jpeg).items():
        path = _write(folder / f"cut-{label}.jpg", photo_jpeg[:cut])
        if label in DECODED_ROWS:  # enough scan data for whole rows: they open, the rest is marked
            add(BadInput(f"truncated-{label}", path, size=(128, 96), mode="RGB",
                         decoded_rows=DECODED_ROWS[label], original=photo_jpeg))  # fmt: skip
            continue
        # Cut inside the first bytes, Pillow cannot even tell it is a JPEG: "not an image".
        allowed = (CorruptImageError, NotAnImageError) if cut < 32 else (CorruptImageError,)
        add(BadInput(f"truncated-{label}", path, allowed))
    add(
        BadInput(
            "corrupt-huffman",
            _write(folder / "huffman.jpg", corrupt_huffman(photo_jpeg)),
            size=(128, 96),
            mode="RGB",
            corrupt_but_decodable=True,
        )
    )
    add(BadInput("png-bad-crc", _write(folder / "crc.png", png_with_bad_crc(photo)),
                 (CorruptImageError,)))  # fmt: skip
    add(BadInput("bomb-png", _write(folder / "bomb.png", png_bomb(100_000, 100_000)),
                 (TooManyPixelsError,)))  # fmt: skip
    add(BadInput("bomb-jpeg", _write(folder / "bomb.jpg", jpeg_bomb(65_000, 65_000)),
                 (TooManyPixelsError,)))  # fmt: skip

    add(BadInput("1x1-jpeg", _save(Image.new("RGB", (1, 1), (200, 30, 60)), folder / "one.jpg"),
                 size=(1, 1), mode="RGB"))  # fmt: skip
    add(BadInput("1x1-png", _save(Image.new("RGB", (1, 1), (200, 30, 60)), folder / "one.png"),
                 size=(1, 1), mode="RGB"))  # fmt: skip
    long_row = gradient(65_000, 1)
    add(BadInput("65000x1-png", _save(Image.fromarray(long_row), folder / "row.png"),
                 size=(65_000, 1), mode="RGB"))  # fmt: skip
    add(BadInput("65000x1-jpeg", _save(Image.fromarray(long_row), folder / "row.jpg"),
                 size=(65_000, 1), mode="RGB"))  # fmt: skip
    cmyk = Image.fromarray(photo).convert("CMYK")
    add(BadInput("cmyk-jpeg", _save(cmyk, folder / "cmyk.jpg", quality=90),
                 size=(128, 96), mode="CMYK"))  # fmt: skip
    deep = (photo[:, :, 0].astype(np.uint16) * 257).astype(np.uint16)
    add(BadInput("16-bit-png", _save(Image.fromarray(deep), folder / "deep.png"),
                 size=(128, 96), mode="I;16", oracle="high-byte"))  # fmt: skip
    palette = Image.fromarray(photo).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    add(BadInput("palette-transparency", _save(palette, folder / "palette.png", transparency=3),
                 size=(128, 96), mode="P"))  # fmt: skip
    la = Image.fromarray(photo).convert("LA")
    add(BadInput("la-png", _save(la, folder / "la.png"), size=(128, 96), mode="LA"))

    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = _save(Image.fromarray(gradient(48, 32, seed=orientation)),
                     folder / f"exif-{orientation}.jpg", exif=exif, quality=92)  # fmt: skip
        add(BadInput(f"exif-orientation-{orientation}", path, size=(48, 32), mode="RGB",
                     orientation=orientation))  # fmt: skip

    frames = [Image.fromarray(gradient(40, 30, seed=s)).convert("P") for s in range(3)]
    gif = folder / "animated.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=80, loop=0)
    add(BadInput("animated-gif", gif, size=(40, 30), mode="P", frames=3))
    pages = [Image.fromarray(gradient(40, 30, seed=10 + s)) for s in range(3)]
    tiff = folder / "pages.tif"
    pages[0].save(tiff, save_all=True, append_images=pages[1:])
    add(BadInput("multi-page-tiff", tiff, size=(40, 30), mode="RGB", frames=3))

    locked = _write(folder / "locked.jpg", photo_jpeg)
    locked.chmod(0)
    if RUNNING_AS_ROOT:
        # Root reads mode-000 files (CAP_DAC_OVERRIDE), so the correct outcome there is a view.
        add(BadInput("no-read-permission", locked, size=(128, 96), mode="RGB",
                     notes=["running as root: permissions do not stop reading"]))  # fmt: skip
    else:
        add(BadInput("no-read-permission", locked, (UnreadableFileError,)))

    odd_folder = folder / "Beweisstück Ordner — 証拠"
    add(BadInput("non-ascii-spaces", _write(odd_folder / "фото 写真 (1) é.jpg", photo_jpeg),
                 size=(128, 96), mode="RGB"))  # fmt: skip
    # Linux names are bytes: one that is not UTF-8 reaches Python as surrogate escapes.
    raw_name = os.fsdecode(b"latin1-\xe9t\xe9 photo.jpg")
    add(BadInput("non-utf8-name", _write(folder / raw_name, photo_jpeg),
                 size=(128, 96), mode="RGB"))  # fmt: skip

    loop_a, loop_b = folder / "loop-a.jpg", folder / "loop-b.jpg"
    loop_a.symlink_to(loop_b.name)
    loop_b.symlink_to(loop_a.name)
    add(BadInput("symlink-loop", loop_a, (UnreadableFileError,), evidence=False))
    dangling = folder / "dangling.jpg"
    dangling.symlink_to("missing-target.jpg")
    add(BadInput("dangling-symlink", dangling, (UnreadableFileError,), evidence=False))
    directory = folder / "folder.jpg"
    directory.mkdir()
    add(BadInput("folder-named-jpg", directory, (UnreadableFileError,), evidence=False))
    fifo = folder / "pipe.jpg"
    os.mkfifo(fifo)  # opening it for reading would block forever: it must be refused first
    add(BadInput("fifo-named-jpg", fifo, (UnreadableFileError,), evidence=False))
    return cases


def expected_rgb(case: BadInput) -> np.ndarray:
    """The pixels a correct loader returns for an openable case (stored grid, frame 0)."""
    if case.path.stat().st_mode & 0o444 == 0 and not RUNNING_AS_ROOT:
        raise ValueError(f"{case.id} is not readable")
    if case.original is not None:  # a cut-off file: the top rows of the uncut file's decode
        with Image.open(io.BytesIO(case.original)) as image:
            full = np.asarray(image.convert("RGB"), dtype=np.uint8)
        return full if case.decoded_rows is None else full[: case.decoded_rows]
    with Image.open(case.path) as image:
        image.seek(0)
        if case.oracle == "high-byte":
            return np.repeat((np.asarray(image).astype(np.uint32) >> 8).astype(np.uint8)[..., None],
                             3, axis=2)  # fmt: skip
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def snapshot(folder: Path) -> dict[str, tuple[str, str]]:
    """Every entry below ``folder`` (links not followed): kind and, for files, the SHA-256."""
    import hashlib

    entries: dict[str, tuple[str, str]] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            info = path.lstat()
            relative = os.fsencode(path.relative_to(folder)).hex()
            if stat.S_ISREG(info.st_mode):
                was = info.st_mode
                if not was & stat.S_IRUSR:
                    path.chmod(was | stat.S_IRUSR)
                try:
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                finally:
                    path.chmod(stat.S_IMODE(was))
                entries[relative] = ("file", digest)
            elif stat.S_ISLNK(info.st_mode):
                entries[relative] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entries[relative] = ("dir", "")
            else:
                entries[relative] = ("other", oct(info.st_mode))
    return entries

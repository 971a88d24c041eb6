"""What the file says about itself: EXIF highlights, warnings, ICC, subsampling, progressive."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import CASIA, needs_casia
from PIL import Image

from forensic_viewer.cli import main
from forensic_viewer.core.errors import UnsupportedFormatError
from forensic_viewer.core.images import load_image


def photo() -> Image.Image:
    yy, xx = np.mgrid[0:32, 0:48]
    rgb = np.stack([xx * 5 % 256, yy * 7 % 256, (xx + yy) * 3 % 256], 2).astype(np.uint8)
    return Image.fromarray(rgb)


def camera_exif(software: str = "GIMP 2.10", gps: bool = True) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS 5D"
    exif[0x0131] = software
    exif[0x0132] = "2021:05:06 07:08:09"
    exif.get_ifd(0x8769)[0x9003] = "2020:01:02 03:04:05"
    if gps:
        exif.get_ifd(0x8825)[1] = "N"
        exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.0)
    return exif


def test_exif_highlights_and_editor_warnings(tmp_path):
    path = tmp_path / "edited.jpg"
    photo().save(path, exif=camera_exif(), quality=90)
    facts = load_image(path).facts
    assert facts.exif == {
        "camera_make": "Canon",
        "camera_model": "EOS 5D",
        "software": "GIMP 2.10",
        "modified": "2021:05:06 07:08:09",
        "captured": "2020:01:02 03:04:05",
        "gps_present": True,
        "orientation": 1,
    }
    assert facts.warnings == [
        "Software tag names an image editor: GIMP 2.10",
        "Modification date differs from capture date",
    ]


def test_camera_software_without_gps_raises_no_warning(tmp_path):
    path = tmp_path / "camera.jpg"
    photo().save(path, exif=camera_exif(software="Firmware 1.0.2", gps=False), quality=90)
    facts = load_image(path).facts
    assert facts.exif["gps_present"] is False and facts.exif["software"] == "Firmware 1.0.2"
    assert facts.warnings == ["Modification date differs from capture date"]


def test_no_exif_and_non_jpeg_warnings(tmp_path):
    photo().save(tmp_path / "bare.jpg", quality=90)
    photo().save(tmp_path / "lossless.png")
    assert load_image(tmp_path / "bare.jpg").facts.warnings == [
        "No EXIF metadata (often stripped by editors, messengers or social media)"
    ]
    png = load_image(tmp_path / "lossless.png").facts
    assert png.jpeg is None and png.exif == {}
    assert [w.split(":")[0] for w in png.warnings] == ["PNG is not a JPEG"]


@pytest.mark.parametrize(("subsampling", "name"), [(0, "4:4:4"), (1, "4:2:2"), (2, "4:2:0")])
@pytest.mark.parametrize("progressive", [False, True])
def test_subsampling_and_progressive(tmp_path, subsampling, name, progressive):
    path = tmp_path / "s.jpg"
    photo().save(path, quality=85, subsampling=subsampling, progressive=progressive)
    jpeg = load_image(path).facts.jpeg
    assert (jpeg.subsampling, jpeg.progressive) == (name, progressive)
    assert jpeg.quality.quality == 85 and jpeg.quality.standard
    progressive_warning = any("Progressive JPEG" in w for w in load_image(path).facts.warnings)
    assert progressive_warning == progressive


def test_grayscale_jpeg_has_no_chroma_subsampling(tmp_path):
    path = tmp_path / "g.jpg"
    photo().convert("L").save(path, quality=70)
    jpeg = load_image(path).facts.jpeg
    assert jpeg.subsampling == "none (grayscale)" and jpeg.quality.quality == 70


@pytest.mark.parametrize("suffix", ["jpg", "png"])
def test_icc_profile_is_reported(tmp_path, suffix):
    with_icc, without = tmp_path / f"icc.{suffix}", tmp_path / f"plain.{suffix}"
    photo().save(with_icc, icc_profile=b"not a real profile, only its presence counts")
    photo().save(without)
    assert load_image(with_icc).facts.icc_present is True
    assert load_image(without).facts.icc_present is False


def test_info_prints_the_exif_highlights(tmp_path, capsys):
    path = tmp_path / "edited.jpg"
    photo().save(path, exif=camera_exif(), quality=90)
    assert main(["info", str(path), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["exif"]["camera_model"] == "EOS 5D" and facts["exif"]["gps_present"] is True
    assert facts["warnings"][0] == "Software tag names an image editor: GIMP 2.10"
    assert main(["info", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1].strip() for line in lines if line}
    assert rows["Camera"] == "Canon EOS 5D"
    assert rows["Captured"] == "2020:01:02 03:04:05" and rows["GPS"] == "present"


def test_a_layout_pillow_cannot_convert_is_unsupported(tmp_path, monkeypatch):
    path = tmp_path / "odd.png"
    photo().convert("LA").save(path)

    def refuse(self, mode=None, *args, **kwargs):
        raise ValueError(f"conversion from {self.mode} to {mode} not supported")

    monkeypatch.setattr(Image.Image, "convert", refuse)
    with pytest.raises(UnsupportedFormatError) as error:
        load_image(path)
    assert "mode LA" in str(error.value) and "odd.png" in str(error.value)


@needs_casia
def test_casia_photoshop_splice_and_camera_original():
    spliced = load_image(CASIA / "tampered" / "Sp_D_NND_A_ani0085_arc0089_0595.jpg").facts
    assert spliced.jpeg.quality.quality == 94 and not spliced.jpeg.quality.standard
    assert spliced.jpeg.subsampling == "4:4:4"
    assert spliced.exif["software"] == "Adobe Photoshop CS2 Windows"
    assert spliced.warnings[0] == "Software tag names an image editor: Adobe Photoshop CS2 Windows"
    assert spliced.information[0].startswith("Non-standard JPEG quantization tables")
    assert not any("quantization" in warning for warning in spliced.warnings)
    original = load_image(CASIA / "authentic" / "Au_ani_0003.jpg").facts
    assert original.jpeg.quality.quality == 90 and original.jpeg.quality.standard
    assert original.jpeg.subsampling == "4:2:0" and original.exif == {}

"""The analysis protocol, the registry, and ELA / quality grid on it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forensic_viewer.core import ela as ela_maths
from forensic_viewer.core.analyses import (
    REGISTRY,
    Analysis,
    AnalysisCancelled,
    AnalysisResult,
    Finding,
    Param,
    register,
    resolve_params,
    run_analysis,
)
from forensic_viewer.core.images import load_image


def make_jpeg(tmp_path: Path, quality: int = 80, name: str = "img.jpg") -> Path:
    rng = np.random.default_rng(3)
    pixels = (rng.random((64, 96, 3)) * 255).astype(np.uint8)
    path = tmp_path / name
    Image.fromarray(pixels).save(path, quality=quality)
    return path


def test_param_coerces_command_line_strings_and_checks_ranges():
    q = Param("quality", "Q", "int", 90, 1, 100)
    assert q.coerce("75") == 75
    assert q.coerce(80.0) == 80
    with pytest.raises(ValueError, match="quality: must be at most 100, got 101"):
        q.coerce("101")
    with pytest.raises(ValueError, match="quality: must be an integer"):
        q.coerce("7.5")
    with pytest.raises(ValueError, match="quality: invalid value 'x'"):
        q.coerce("x")
    f = Param("gain", "G", "float", 0.0, 0.0)
    assert f.coerce("2.5") == 2.5
    with pytest.raises(ValueError, match="finite"):
        f.coerce("nan")
    c = Param("method", "M", "choice", "a", choices=("a", "b"))
    assert c.coerce("b") == "b"
    with pytest.raises(ValueError, match="method: must be one of a, b"):
        c.coerce("z")
    b = Param("flag", "F", "bool", False)
    assert (b.coerce("yes"), b.coerce("0"), b.coerce(True)) == (True, False, True)
    with pytest.raises(ValueError, match="flag: must be true or false"):
        b.coerce("maybe")


def test_param_rejects_a_bad_definition():
    with pytest.raises(ValueError, match="kind"):
        Param("x", "X", "text", "")
    with pytest.raises(ValueError, match="not in choices"):
        Param("x", "X", "choice", "c", choices=("a", "b"))
    with pytest.raises(ValueError, match="at most 5"):
        Param("x", "X", "int", 9, 0, 5)
    with pytest.raises(ValueError, match="severity"):
        Finding("text", "error")


def test_resolve_params_fills_defaults_and_refuses_unknown_names():
    ela = REGISTRY["ela"]
    assert resolve_params(ela, {"quality": "70"}) == {
        "quality": 70,
        "gain": 0.0,
        "grayscale": False,
        "auto_scale": "classic",
    }
    with pytest.raises(ValueError, match="ela: unknown parameter\\(s\\) nope"):
        resolve_params(ela, {"nope": 1})


def test_result_as_dict_is_json_without_nan():
    result = AnalysisResult(
        image=np.zeros((4, 6), np.float32),
        cell=8,
        mask=np.eye(4, 6, dtype=bool),
        lines=[(1.0, 2.0, 3.0, np.float32(4.5))],
        score=float("nan"),
        findings=[Finding("a", "warning")],
        data={"x": np.int64(3), "y": [np.float64("inf"), 1.5], "z": np.arange(2)},
        extra_images={"b": np.zeros(1), "a": np.zeros(1)},
    )
    out = result.as_dict()
    assert json.loads(json.dumps(out, allow_nan=False)) == {
        "score": None,
        "cell": 8,
        "map_shape": [4, 6],
        "mask_pixels": 4,
        "lines": [[1.0, 2.0, 3.0, 4.5]],
        "findings": [{"text": "a", "severity": "warning"}],
        "data": {"x": 3, "y": [None, 1.5], "z": [0, 1]},
        "extra_images": ["a", "b"],
    }


def test_registry_holds_ela_and_grid_and_refuses_a_duplicate_name():
    assert list(REGISTRY)[:2] == ["ela", "grid"]
    for analysis in REGISTRY.values():
        assert isinstance(analysis, Analysis)
        assert analysis.help and analysis.title
    register(REGISTRY["ela"])  # the same object again is harmless (re-import)

    class Other:
        name = "ela"

    with pytest.raises(ValueError, match="already registered"):
        register(Other())
    Other.name = "Bad Name"
    with pytest.raises(ValueError, match="lower-case"):
        register(Other())


def test_ela_analysis_is_exactly_core_ela(tmp_path):
    image = load_image(make_jpeg(tmp_path))
    result = run_analysis(REGISTRY["ela"], image, {"quality": 85})
    expected = ela_maths.ela(image.pixels, 85)
    np.testing.assert_array_equal(result.image, expected.rendering)
    assert result.data == {
        "quality": 85,
        "max_diff": expected.max_diff,
        "gain": expected.gain,
        "grayscale": False,
        "scale": "classic",
    }
    assert result.findings == []
    percentile = run_analysis(REGISTRY["ela"], image, {"auto_scale": "percentile"})
    np.testing.assert_array_equal(
        percentile.image, ela_maths.ela(image.pixels, 90, scale="percentile").rendering
    )
    assert percentile.data["scale"] == "percentile"
    gray = run_analysis(REGISTRY["ela"], image, {"grayscale": True, "gain": 4})
    plain = ela_maths.ela(image.pixels, 90, scale=4.0, grayscale=True).rendering
    assert gray.image.shape == (64, 96, 3)
    for channel in range(3):
        np.testing.assert_array_equal(gray.image[:, :, channel], plain)
    assert gray.data["gain"] == 4.0


def test_ela_notes_a_non_jpeg(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(np.full((16, 16, 3), 7, np.uint8)).save(path)
    result = run_analysis(REGISTRY["ela"], load_image(path))
    assert [f.severity for f in result.findings] == ["notice"]
    assert result.findings[0].text.startswith("Not a JPEG (PNG)")


def test_grid_shows_the_cell_closest_to_the_files_quality(tmp_path):
    image = load_image(make_jpeg(tmp_path, quality=72))
    fractions = []
    result = run_analysis(REGISTRY["grid"], image, progress=fractions.append)
    assert result.data["estimated_quality"] == 72
    assert result.data["shown_quality"] == 70
    assert sorted(result.extra_images) == ["q100", "q60", "q70", "q80", "q90", "q95"]
    np.testing.assert_array_equal(result.image, ela_maths.ela(image.pixels, 70).rendering)
    np.testing.assert_array_equal(
        result.extra_images["q95"], ela_maths.ela(image.pixels, 95).rendering
    )
    assert [c["quality"] for c in result.data["cells"]] == [60, 70, 80, 90, 95, 100]
    assert fractions == [0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0, 1.0]


def test_cancel_stops_ela_and_grid(tmp_path):
    image = load_image(make_jpeg(tmp_path))
    for name in ("ela", "grid"):
        with pytest.raises(AnalysisCancelled):
            run_analysis(REGISTRY[name], image, cancel=lambda: True)
    calls = []

    def cancel_on_third_poll():
        calls.append(1)
        return len(calls) >= 3

    with pytest.raises(AnalysisCancelled):
        run_analysis(REGISTRY["grid"], image, cancel=cancel_on_third_poll)
    assert len(calls) == 3


def test_run_analysis_refuses_an_image_the_analysis_does_not_apply_to(tmp_path):
    class JpegOnly:
        name, title, help, params = "jpegonly", "JPEG only", "h", ()

        def applies_to(self, image):
            return "not a JPEG"

        def run(self, image, params, progress, cancel):  # pragma: no cover - never reached
            raise AssertionError

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    path = tmp_path / "x.png"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="JPEG only cannot run on this image: not a JPEG"):
        run_analysis(JpegOnly(), load_image(path))


def test_analyses_load_neither_qt_nor_torch():
    code = "import sys, forensic_viewer.core.analyses; print(','.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.strip().split(","))
    assert "forensic_viewer.core.analyses.grid" in loaded
    assert not {m for m in loaded if m.split(".")[0] in ("PySide6", "pyqtgraph", "torch")}

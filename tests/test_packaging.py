"""Packaging: desktop entry, AppStream metainfo, icons, the wheel's package data, the bundle.

desktop-file-validate and appstreamcli (Debian: desktop-file-utils, appstream) validate the two
files when installed; the tests skip with a reason otherwise. The bundle test (slow) builds
dist/forensic-viewer with packaging/build_bundle.py unless an up-to-date one exists, then runs
the bundled executable: a screenshot offscreen, `info`, `ela` (bit-identical to this Python's) and
`predict` with a throw-away model (so torch works inside the bundle without CUDA libraries).
"""

from __future__ import annotations

import configparser
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import forensic_viewer

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
DESKTOP = PACKAGING / "forensic-viewer.desktop"
APP_ID = "io.github.forensic_viewer.ForensicViewer"
METAINFO = PACKAGING / f"{APP_ID}.metainfo.xml"
ICONS = ROOT / "resources" / "icons" / "hicolor"
ICON_NAME = "forensic-viewer"
ICON_SIZES = (16, 32, 48, 64, 128, 256)
SCREENSHOT = "resources/screenshots/viewer-ela.png"
MIME_TYPES = ["image/jpeg", "image/png", "image/tiff", "image/bmp", "image/webp"]
BUNDLE = ROOT / "dist" / "forensic-viewer"
BUNDLE_EXE = BUNDLE / "forensic-viewer"
BUNDLE_BUILD_TIMEOUT_S = 25 * 60
BUNDLE_MAX_MIB = 1500
"""A CPU bundle measured about 1 GiB; a CUDA one 5.2 GiB. Past this, something heavy crept in."""


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def console_script() -> str:
    (name,) = [k for k, v in pyproject()["project"]["scripts"].items() if v.endswith("cli:main")]
    return name


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def metainfo() -> ElementTree.Element:
    return ElementTree.parse(METAINFO).getroot()


def load_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- desktop entry and AppStream


def test_desktop_file_validates():
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate not installed (Debian package desktop-file-utils)")
    result = subprocess.run([tool, str(DESKTOP)], capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_desktop_file_opens_images_with_the_installed_command():
    entry = desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Exec"] == f"{console_script()} %F"
    assert entry["TryExec"] == console_script()
    assert entry["MimeType"] == ";".join(MIME_TYPES) + ";"
    assert entry["Icon"] == ICON_NAME
    assert entry["Terminal"] == "false"
    assert "Graphics" in entry["Categories"].split(";")


def test_metainfo_validates():
    tool = shutil.which("appstreamcli")
    if tool is None:
        pytest.skip("appstreamcli not installed (Debian package appstream)")
    result = subprocess.run(
        [tool, "validate", "--no-net", "--no-color", str(METAINFO)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    problems = [line for line in output.splitlines() if line.startswith(("E:", "W:"))]
    assert problems == []


def test_metainfo_agrees_with_the_desktop_file_and_the_package():
    root = metainfo()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable[@type='desktop-id']") == DESKTOP.name
    assert root.findtext("icon[@type='stock']") == desktop_entry()["Icon"]
    assert root.findtext("provides/binary") == console_script()
    assert [m.text for m in root.findall("provides/mediatype")] == MIME_TYPES
    assert root.findtext("project_license") == pyproject()["project"]["license"]["text"]
    newest = root.find("releases/release")
    assert newest.get("version") == forensic_viewer.__version__ == pyproject()["project"]["version"]
    image = root.findtext("screenshots/screenshot[@type='default']/image").strip()
    assert image.startswith("https://") and image.endswith("/" + SCREENSHOT)


def test_metainfo_screenshot_is_in_the_repository():
    path = ROOT / SCREENSHOT
    if not path.is_file():
        pytest.skip(f"{SCREENSHOT} not made yet (the viewer's --screenshot produces it)")
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width >= 800 and image.height >= 500
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    assert pixels.std() > 10  # a real window, not a blank grab


# ---------------------------------------------------------------- icons


@pytest.mark.parametrize("size", ICON_SIZES)
def test_png_icon(size):
    path = ICONS / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png"
    with Image.open(path) as image:
        assert (image.format, image.size, image.mode) == ("PNG", (size, size), "RGBA")
        pixels = np.asarray(image)
    assert pixels[0, 0, 3] == 0 and pixels[-1, -1, 3] == 0  # rounded, transparent corners
    assert pixels[size // 2, size // 2, 3] == 255
    assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 8  # drawn, not a flat square


def test_svg_icon_is_square_and_valid():
    root = ElementTree.parse(ICONS / "scalable" / "apps" / f"{ICON_NAME}.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 256 256"


def test_committed_icons_are_what_the_script_draws(tmp_path):
    make_icons = load_script(ROOT / "scripts" / "make_icons.py")
    written = make_icons.write_icons(tmp_path)
    assert len(written) == 1 + len(ICON_SIZES)
    for path in written:
        committed = ICONS / path.relative_to(tmp_path / "hicolor")
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} is stale: rerun the script"
        )


def test_svg_and_png_show_the_same_picture(qapp):
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(ICONS / "scalable" / "apps" / f"{ICON_NAME}.svg"))
    assert renderer.isValid()
    image = QImage(256, 256, QImage.Format.Format_RGBA8888)
    image.fill(0)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    from_svg = np.frombuffer(image.constBits(), np.uint8).reshape(256, 256, 4).astype(int)
    with Image.open(ICONS / "256x256" / "apps" / f"{ICON_NAME}.png") as png:
        from_png = np.asarray(png.convert("RGBA")).astype(int)
    assert np.abs(from_svg - from_png).mean() < 4  # measured 2.0: anti-aliasing differs only


# ---------------------------------------------------------------- pip install . (the wheel)


def test_wheel_ships_the_command_models_and_resources(tmp_path):
    """`pip install .` gives the command, the default model (if any) and resources/."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("forensic_viewer-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    assert f"{console_script()} = forensic_viewer.cli:main" in scripts
    for path in sorted((ROOT / "resources").rglob("*")):
        if path.is_file():
            assert f"forensic_viewer/resources/{path.relative_to(ROOT / 'resources')}" in names
    for path in sorted((ROOT / "models").glob("*")):
        if path.suffix in (".safetensors", ".json"):
            assert f"forensic_viewer/models/{path.name}" in names
    icon = f"forensic_viewer/resources/icons/hicolor/256x256/apps/{ICON_NAME}.png"
    assert icon in names


@pytest.mark.slow
def test_installed_wheel_runs_away_from_the_checkout_with_its_default_model(tmp_path):
    """The wheel installed on its own (not the editable checkout): the command runs from an
    unrelated folder and predicts with the default model it carries as package data."""
    if not (ROOT / "models" / "default.safetensors").is_file():
        pytest.skip("no default model in models/")
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("forensic_viewer-*.whl")
    installed = subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    image = sample_image(tmp_path)
    # the installed package comes first on the path; the dependencies come from this venv
    env = {**os.environ, "PYTHONPATH": str(target), "QT_QPA_PLATFORM": "offscreen"}
    script = target / "bin" / console_script()
    assert script.is_file()
    where = subprocess.run(
        [sys.executable, "-c", "import forensic_viewer.ml.modelfile as m; "
         "print(m.__file__); print(m.default_model_path())"],
        capture_output=True, text=True, timeout=60, cwd=elsewhere, env=env,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr[-2000:]
    module_file, default_model = where.stdout.split()
    assert module_file.startswith(str(target)), where.stdout
    assert default_model == str(target / "forensic_viewer" / "models" / "default.safetensors")
    predicted = subprocess.run(
        [sys.executable, str(script), "predict", str(image), "--json"],
        capture_output=True, text=True, timeout=300, cwd=elsewhere, env=env,
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    (row,) = json.loads(predicted.stdout)
    assert row["model"] == "default"
    assert row["verdict"] in ("tampered", "no_trace", "inconclusive") and row["reason"]
    shot = elsewhere / "shot.png"
    shown = subprocess.run(
        [sys.executable, str(script), "--screenshot", str(shot), str(image)],
        capture_output=True, text=True, timeout=300, cwd=elsewhere, env=env,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert Image.open(shot).size == (1440, 760)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["shot.png"]


def test_build_venv_swaps_torch_for_a_cpu_build():
    build_bundle = load_script(PACKAGING / "build_bundle.py")
    requirements = build_bundle.runtime_requirements("torch==2.13.0+cpu")
    names = [build_bundle.requirement_name(r) for r in requirements]
    declared = [build_bundle.requirement_name(r) for r in pyproject()["project"]["dependencies"]]
    assert "torchvision" not in names
    assert [r for r in requirements if r.startswith("torch")] == ["torch==2.13.0+cpu"]
    assert set(names) == (set(declared) - {"torchvision"}) | {"pyinstaller"}


# ---------------------------------------------------------------- the bundle


def newest_source_mtime() -> float:
    paths = [*ROOT.glob("forensic_viewer/**/*.py"), *PACKAGING.glob("*"), ROOT / "pyproject.toml"]
    paths += [p for p in (ROOT / "models").glob("*") if p.is_file()]
    paths += [p for p in (ROOT / "resources").rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in paths)


def bundle_size_mib() -> float:
    total = 0
    for root, _dirs, files in os.walk(BUNDLE):
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total / 2**20


@pytest.fixture(scope="module")
def bundle_exe() -> Path:
    """dist/forensic-viewer, built now unless it is newer than every source file."""
    fresh = BUNDLE_EXE.is_file() and BUNDLE_EXE.stat().st_mtime > newest_source_mtime()
    if fresh and os.environ.get("FV_BUNDLE_REBUILD") != "1":
        return BUNDLE_EXE
    started = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, str(PACKAGING / "build_bundle.py")],
            capture_output=True,
            text=True,
            timeout=BUNDLE_BUILD_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"bundle build took more than {BUNDLE_BUILD_TIMEOUT_S} s")
    seconds = time.monotonic() - started
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    print(f"bundle built in {seconds:.0f} s\n{result.stdout[-1500:]}")
    assert BUNDLE_EXE.is_file()
    return BUNDLE_EXE


def sample_image(tmp_path: Path) -> Path:
    """A CASIA photo when the shared set is there, else a generated photo-like JPEG."""
    from conftest import CASIA, casia_files

    if (CASIA / "MANIFEST.tsv").is_file():
        return casia_files("tampered")[0]
    from badinput import gradient

    path = tmp_path / "sample.jpg"
    Image.fromarray(gradient(384, 256, seed=5)).save(path, quality=88)
    return path


def run_bundle(exe: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=exe.parent.parent,
    )


@pytest.mark.slow
def test_bundle_has_no_cuda_and_carries_models_and_resources(bundle_exe):
    internal = bundle_exe.parent / "_internal"
    cuda = re.compile(r"^lib(torch_cuda|c10_cuda|cuda|cudnn|cublas|cufft|cusparse|nccl|nvrtc)")
    heavy = [p.name for p in internal.rglob("*.so*") if cuda.match(p.name)]
    assert heavy == []
    assert not (internal / "nvidia").exists() and not (internal / "triton").exists()
    assert not (internal / "torch" / "test").exists()
    resources = internal / "forensic_viewer" / "resources"
    assert (resources / "icons" / "hicolor" / "256x256" / "apps" / f"{ICON_NAME}.png").is_file()
    for model in (ROOT / "models").glob("*.safetensors"):
        bundled = internal / "forensic_viewer" / "models" / model.name
        assert bundled.read_bytes() == model.read_bytes()
    assert bundle_size_mib() < BUNDLE_MAX_MIB


@pytest.mark.slow
def test_bundle_screenshot_offscreen(bundle_exe, tmp_path):
    sample = sample_image(tmp_path)
    shot = tmp_path / "shot.png"
    result = run_bundle(bundle_exe, "--screenshot", str(shot), str(sample))
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
    with Image.open(shot) as image:
        image.verify()
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.width >= 640 and image.height >= 400
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.std() > 10
    assert len(np.unique(pixels.reshape(-1, 3)[::7], axis=0)) > 200  # a photo is in it


@pytest.mark.slow
def test_bundle_cli_matches_this_python(bundle_exe, tmp_path):
    from forensic_viewer.core.ela import ela
    from forensic_viewer.core.images import load_image, sha256_file

    sample = sample_image(tmp_path)
    info = run_bundle(bundle_exe, "info", "--json", str(sample))
    assert info.returncode == 0, info.stderr.decode(errors="replace")
    assert json.loads(info.stdout)["sha256"] == sha256_file(sample)

    output = tmp_path / "ela.png"
    made = run_bundle(bundle_exe, "ela", str(sample), "-q", "75", "-o", str(output))
    assert made.returncode == 0, made.stderr.decode(errors="replace")
    with Image.open(output) as image:
        bundled = np.asarray(image)
    assert np.array_equal(bundled, ela(load_image(sample).pixels, 75).rendering)

    bad = run_bundle(bundle_exe, "info", str(tmp_path / "missing.jpg"))
    assert bad.returncode == 2
    assert bad.stderr.decode().count("\n") == 1 and b"missing.jpg" in bad.stderr


@pytest.mark.slow
def test_bundle_predicts_with_torch_inside(bundle_exe, tmp_path):
    torch = pytest.importorskip("torch")
    from forensic_viewer.ml.model import ElaCnn
    from forensic_viewer.ml.modelfile import ModelCard, save_model
    from forensic_viewer.ml.predict import Predictor

    torch.manual_seed(7)
    weights = save_model(tmp_path / "throwaway", ElaCnn(), ModelCard(name="throwaway"))
    sample = sample_image(tmp_path)
    result = run_bundle(bundle_exe, "predict", str(sample), "--model", str(weights), "--json")
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
    (row,) = json.loads(result.stdout)
    from forensic_viewer.core.images import load_image

    expected = Predictor(weights).predict(load_image(sample).pixels)
    assert row["model"] == "throwaway"
    assert row["p_tampered"] == pytest.approx(expected.p_tampered, abs=1e-4)
    assert row["verdict"] == expected.verdict.state


def test_bundle_png_is_readable_by_pillow_helper():
    """The screenshot checks above rely on Pillow refusing a broken PNG: make sure it does."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, "PNG")
    broken = buffer.getvalue()[:-20]
    with pytest.raises(Exception), Image.open(io.BytesIO(broken)) as image:  # noqa: B017
        image.load()

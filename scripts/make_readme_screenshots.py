"""The README's viewer screenshots, made by the app itself (``--screenshot``) under Xvfb.

    .venv/bin/python scripts/make_readme_screenshots.py [OUT_DIR]

Six CASIA v1.0 validation-split photos (three spliced, three authentic) with the shipped default
model; writes viewer-ela.png, viewer-heatmap.png and viewer-grid.png (default: resources/
screenshots/). Then one screenshot per further registered analysis (viewer-NAME.png): clone
detection on a CASIA copy-move photo, and noise, double compression and thumbnail on edits made
up here from a camera original (``made_up_inputs``, written to a temporary folder only). Then
viewer-empty.png (the empty window's drop target), viewer-camera-percentile.png and
viewer-camera-classic.png (a CC0 iPhone XR original from ../shared/datasets/camera-originals with
the two auto brightness scales) and viewer-grid-1280.png (the grid in a 1280 x 800 screen).
Last, viewer-localiser.png and viewer-localiser-1280.png: the block localiser
(models/localiser.safetensors, Model > localiser) with its map over a CASIA validation splice.
Needs xvfb-run (Debian package xvfb, installed by `make run`/`make test`). The XDG folders point
at a temporary directory, so the user's settings and models are not used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASIA = Path(os.environ.get("FORENSIC_VIEWER_CASIA", ROOT.parent / "shared/datasets/casia1"))
IMAGES = [
    "tampered/Sp_D_NND_A_ani0085_arc0089_0595.jpg",
    "tampered/Sp_D_NRN_A_ani0086_pla0034_0440.jpg",
    "tampered/Sp_D_CRN_A_cha0073_ani0090_0381.jpg",
    "authentic/Au_ani_0003.jpg",
    "authentic/Au_arc_0049.jpg",
    "authentic/Au_txt_0020.jpg",
]
VIEWS = {"viewer-ela.png": "ela", "viewer-heatmap.png": "heatmap", "viewer-grid.png": "grid"}
CAMERA = Path(
    os.environ.get("FORENSIC_VIEWER_CAMERA", ROOT.parent / "shared/datasets/camera-originals")
)
CLONE_IMAGE = "tampered/Sp_S_CND_A_pla0016_pla0016_0196.jpg"  # a CASIA copy-move photo
BASE_PHOTO = "photos/casio_EX-Z3_Casio_EX-Z3.jpg"  # 2048 x 1536, with an EXIF thumbnail
DONOR_PHOTO = "photos/htc_HTC-One_HTC_One.jpg"
EDIT_BOX = (1100, 500, 1600, 900)  # left, top, right, bottom of the made-up edits


def made_up_inputs(folder: Path) -> dict[str, Path]:
    """Edits with a known region (EDIT_BOX) for the noise, double-compression and thumbnail tabs.

    noise: Gaussian noise (sigma 6) added in the box, saved at quality 95. dq: the photo saved at
    quality 70, a patch of another camera's photo pasted into the box, saved again at 90 (the
    rest is compressed twice on the same grid, the patch once). thumbnail: the box filled with
    another part of the same photo, saved at 95 with the original EXIF (its thumbnail kept).
    """
    import io

    import numpy as np
    from PIL import Image

    with Image.open(CAMERA / BASE_PHOTO) as image:
        exif = image.info["exif"]
        base = np.asarray(image.convert("RGB")).copy()
    with Image.open(CAMERA / DONOR_PHOTO) as image:
        donor = np.asarray(image.convert("RGB"))
    left, top, right, bottom = EDIT_BOX
    out = {}
    noisy = base.astype(np.float32)
    rng = np.random.default_rng(0)
    noisy[top:bottom, left:right] += rng.normal(0, 6, noisy[top:bottom, left:right].shape)
    out["noise"] = folder / "noise-made-up.jpg"
    Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8)).save(out["noise"], quality=95)
    buffer = io.BytesIO()
    Image.fromarray(base).save(buffer, "JPEG", quality=70)
    first = np.asarray(Image.open(buffer).convert("RGB")).copy()
    first[top:bottom, left:right] = donor[200 : 200 + bottom - top, 300 : 300 + right - left]
    out["dq"] = folder / "dq-made-up.jpg"
    Image.fromarray(first).save(out["dq"], quality=90)
    edited = base.copy()
    edited[top:bottom, left:right] = base[top + 500 : bottom + 500, left - 900 : right - 900]
    out["thumbnail"] = folder / "thumbnail-made-up.jpg"
    Image.fromarray(edited).save(out["thumbnail"], quality=95, exif=exif)
    return out


CAMERA_PHOTO = "photos/apple_iPhone-XR_IMG_3580.JPG"  # CC0-1.0 (digicam_corpus)
SIZED_SHOT = """
import sys
from dataclasses import replace
from forensic_viewer.ui.app import create_application, create_window, save_screenshot
from forensic_viewer.ui.app import wait_until_idle
out, width, height, view, scale, *images = sys.argv[1:]
app = create_application()
window = create_window(images, view=view, size=(int(width), int(height)))
settings = replace(window.session.settings, auto_scale=scale)
window.controls.set_settings(settings)
window.session.set_settings(settings)
assert wait_until_idle(window, 300)
save_screenshot(window, out)
"""


LOCALISER_SHOT = """
import sys
from pathlib import Path
from forensic_viewer.ui.app import create_application, create_window, save_screenshot
from forensic_viewer.ui.app import wait_until_idle
out, width, height, model, *images = sys.argv[1:]
app = create_application()
window = create_window([], view="heatmap", size=(int(width), int(height)))
window.choose_model(Path(model))
window.open_paths(images)
assert wait_until_idle(window, 300)
save_screenshot(window, out)
"""
LOCALISER_IMAGES = [  # CASIA validation split (group split)
    "tampered/Sp_D_NND_A_ani0085_arc0089_0595.jpg",
    "tampered/Sp_D_CRN_A_nat0077_nat0067_0387.jpg",
    "authentic/Au_nat_0067.jpg",
]


def main() -> int:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "resources" / "screenshots"
    out_dir.mkdir(parents=True, exist_ok=True)
    images = [str(CASIA / name) for name in IMAGES]
    missing = [p for p in images if not Path(p).is_file()]
    if missing:
        print(f"missing CASIA files (set FORENSIC_VIEWER_CASIA): {missing[0]}", file=sys.stderr)
        return 2
    command = [str(ROOT / ".venv" / "bin" / "forensic-viewer")]
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, QT_QPA_PLATFORM="xcb")
        for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
            env[name] = str(Path(home) / name)
        shots = [(out_dir / name, view, images) for name, view in VIEWS.items()]
        inputs = {"clone": CASIA / CLONE_IMAGE, **made_up_inputs(Path(home))}
        sys.path.insert(0, str(ROOT))
        from forensic_viewer.core.analyses import REGISTRY

        for name in REGISTRY:
            if name in inputs:  # every analysis but ELA and the grid (above)
                shots.append((out_dir / f"viewer-{name}.png", name, [str(inputs[name])]))
        for out, view, paths in shots:
            subprocess.run(
                ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", *command]
                + ["--screenshot", str(out), "--view", view, *paths],
                check=True,
                env=env,
                timeout=300,
            )
        screen = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24"]
        subprocess.run(
            [*screen, *command, "--screenshot", str(out_dir / "viewer-empty.png")],
            check=True,
            env=env,
            timeout=300,
        )
        python = str(ROOT / ".venv" / "bin" / "python")
        camera = str(CAMERA / CAMERA_PHOTO)
        for name, screen_size, size, view, scale, shown in (
            ("viewer-camera-percentile.png", "1600x1000", (1440, 760), "ela", "percentile",
             [camera]),
            ("viewer-camera-classic.png", "1600x1000", (1440, 760), "ela", "classic", [camera]),
            ("viewer-grid-1280.png", "1280x800", (1280, 770), "grid", "percentile", [camera]),
        ):  # fmt: skip
            subprocess.run(
                ["xvfb-run", "-a", "-s", f"-screen 0 {screen_size}x24", python, "-c", SIZED_SHOT]
                + [str(out_dir / name), *map(str, size), view, scale, *shown],
                check=True,
                env=env,
                timeout=300,
            )
        shown = [str(CASIA / name) for name in LOCALISER_IMAGES]
        model = str(ROOT / "models" / "localiser.safetensors")
        for name, screen_size, size in (
            ("viewer-localiser.png", "1600x1000", (1440, 760)),
            ("viewer-localiser-1280.png", "1280x800", (1280, 770)),
        ):
            subprocess.run(
                ["xvfb-run", "-a", "-s", f"-screen 0 {screen_size}x24", python, "-c"]
                + [LOCALISER_SHOT, str(out_dir / name), *map(str, size), model, *shown],
                check=True,
                env=env,
                timeout=300,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

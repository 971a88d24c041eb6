"""The README's viewer screenshots, made by the app itself (``--screenshot``) under Xvfb.

    .venv/bin/python scripts/make_readme_screenshots.py [OUT_DIR]

Six CASIA v1.0 validation-split photos (three spliced, three authentic) with the shipped default
model; writes viewer-ela.png, viewer-heatmap.png and viewer-grid.png (default: resources/
screenshots/). Needs xvfb-run (Debian package xvfb, installed by `make run`/`make test`). The
XDG folders point at a temporary directory, so the user's settings and models are not used.
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
        for file_name, view in VIEWS.items():
            out = out_dir / file_name
            subprocess.run(
                ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", *command]
                + ["--screenshot", str(out), "--view", view, *images],
                check=True,
                env=env,
                timeout=300,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

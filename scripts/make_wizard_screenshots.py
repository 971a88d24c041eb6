"""Screenshots of the training wizard's four pages (run under xvfb).

Usage: shots.py OUT_DIR [EPOCHS]. Trains on a CASIA v1.0 subset (symlinks in /tmp) so page 3 and 4
show real curves; the XDG dirs point at /tmp so the user's models folder is untouched.
With LOCALISER_PHOTOS=FOLDER (untouched camera photos) the run uses the block localiser recipe
with that folder's generated pairs, and the files are named wizard-localiser-*.png.
"""

import csv
import os
import sys
import time
from pathlib import Path

BASE = Path("/tmp/wiz/shots")
for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
    (BASE / name).mkdir(parents=True, exist_ok=True)
    os.environ[name] = str(BASE / name)

CASIA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "casia1"
SUBSET = Path("/tmp/wiz/casia1-subset")


def make_subset(per_class=90):
    rows = list(csv.DictReader((CASIA / "MANIFEST.tsv").open(), delimiter="\t"))
    keep = []
    for label in ("authentic", "tampered"):
        chosen = [r for r in rows if r["label"] == label][
            :: (600 if label == "authentic" else 690) // per_class
        ][:per_class]
        keep += chosen
    for r in keep:
        target = SUBSET / r["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(CASIA / r["file"])
    (SUBSET / "notes.txt").write_text("not an image\n")
    with (SUBSET / "MANIFEST.tsv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(keep)


def main():
    out = Path(sys.argv[1])
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else None  # None: the classic defaults
    make_subset()
    from forensic_viewer.ui.app import create_application
    from forensic_viewer.ui.training.wizard import TrainingWizard

    app = create_application()
    wizard = TrainingWizard(start_folder=str(SUBSET))
    wizard.show()

    def pump(condition, timeout=600):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            app.processEvents()
            if condition():
                for _ in range(5):
                    app.processEvents()
                    time.sleep(0.02)
                return
            time.sleep(0.03)
        raise TimeoutError

    photos = os.environ.get("LOCALISER_PHOTOS")

    def grab(name):
        pump(lambda: True)
        path = out / (f"wizard-localiser-{name}.png" if photos else f"wizard-{name}.png")
        wizard.grab().save(str(path), "PNG")
        # 256 colours without dithering keep each page well under 200 KB (flat UI)
        from PIL import Image

        with Image.open(path) as image:
            small = image.convert("RGB").quantize(256, dither=Image.Dither.NONE)
        small.save(path, optimize=True)
        print("saved", path)

    if os.environ.get("WARNINGS_SHOT"):
        messy = Path("/tmp/wiz/messy")
        for _i, f in enumerate(sorted((CASIA / "authentic").glob("*.jpg"))[:40:4]):
            (messy / "real").mkdir(parents=True, exist_ok=True)
            if not (messy / "real" / f.name).exists():
                (messy / "real" / f.name).symlink_to(f)
        for f in sorted((CASIA / "tampered").glob("*.jpg"))[:3]:
            (messy / "fake").mkdir(parents=True, exist_ok=True)
            if not (messy / "fake" / f.name).exists():
                (messy / "fake" / f.name).symlink_to(f)
        (messy / "fake" / "empty.jpg").write_bytes(b"")
        (messy / "fake" / "scan.pdf").write_bytes(b"%PDF")
        wizard.data_page.set_folder(str(messy))
        pump(lambda: wizard.data_page.discovery is not None)
        grab("1-data-warnings")
        wizard.data_page.set_folder(str(SUBSET))
    pump(lambda: wizard.data_page.isComplete())
    grab("1-data")
    wizard.next()
    if photos:
        page = wizard.settings_page
        page.recipe.setCurrentIndex(page.recipe.findData("localiser"))
        page.photos.setText(photos)
    if epochs is not None:
        wizard.settings_page.epochs.setValue(epochs)
        wizard.settings_page.patience.setValue(0)
    pump(lambda: True)
    grab("2-settings")
    wizard.next()
    # mid-run picture: after the second epoch ends
    pump(
        lambda: (
            wizard.train_page.epochs_done >= min(3, epochs or 3) or not wizard.train_page.running
        )
    )
    pump(
        lambda: (
            len(wizard.train_page.plots.batch_x) >= 3 + len(wizard.train_page.plots.batch_x) // 2
            or not wizard.train_page.running
        ),
        60,
    )
    grab("3-training")
    pump(lambda: not wizard.train_page.running)
    wizard.next()
    pump(lambda: True)
    grab("4-results")
    wizard.shutdown()


if __name__ == "__main__":
    main()

"""Make the example figures of docs/interpreting-ela.md with the app's own `ela` command.

    python scripts/make_doc_examples.py [--casia DIR] [--out docs/images]

Every ELA picture is written by `python -m forensic_viewer ela` into a temporary folder (never
next to the CASIA files); this script only lays the pictures side by side with captions and
stores each figure as a 128-colour PNG to keep the repository small. It also prints the numbers
the guide quotes (compression history of the CASIA v1 classes, ELA inside vs outside the masks).

The examples are fixed files of the shared CASIA v1 set, chosen as follows: the spliced image
whose ELA is brightest inside its mask relative to outside (Sp_D_NNN_A_arc0072_pla0097_0294),
the authentic photo it was made from (Au_arc_0072), and a spliced image whose ELA is *darker*
inside its mask (Sp_D_NNN_A_nat0019_cha0039_0320), ranked by the ratio of mean ELA inside to
outside the mask over all tampered images whose mask covers at least 3% of the picture.
"""

from __future__ import annotations

import argparse
import collections
import io
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forensic_viewer.core.ela import ela_difference  # noqa: E402
from forensic_viewer.core.images import load_image  # noqa: E402

DEFAULT_CASIA = ROOT.parent / "shared" / "datasets" / "casia1"
AUTHENTIC = "authentic/Au_arc_0072.jpg"
SPLICED_VISIBLE = "tampered/Sp_D_NNN_A_arc0072_pla0097_0294.jpg"
SPLICED_HIDDEN = "tampered/Sp_D_NNN_A_nat0019_cha0039_0320.jpg"
CAPTION_HEIGHT = 24
COLOURS = 128
GAP = 6


def app_ela(image: Path, out: Path, quality: int = 90, scale: str = "auto") -> Image.Image:
    """The app's CLI writes the full-resolution rendering; return it."""
    command = [sys.executable, "-m", "forensic_viewer", "ela", str(image), "-q", str(quality)]
    command += ["--scale", scale, "-o", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=out.parent, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"forensic-viewer ela failed on {image.name}: {result.stderr.strip()}")
    print("  " + result.stdout.strip().replace(str(out.parent) + "/", ""))
    return Image.open(out).convert("RGB")


def font(size: int = 15) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed bitmap font
        return ImageFont.load_default()


def figure(tiles: list[tuple[Image.Image, str]], columns: int | None = None) -> Image.Image:
    """Tiles in a grid (all the same size), each with a caption above it."""
    columns = columns or len(tiles)
    rows = (len(tiles) + columns - 1) // columns
    width, height = tiles[0][0].size
    canvas = Image.new(
        "RGB",
        (columns * width + (columns - 1) * GAP, rows * (height + CAPTION_HEIGHT + GAP) - GAP),
        "white",
    )
    draw = ImageDraw.Draw(canvas)
    for index, (tile, caption) in enumerate(tiles):
        row, col = divmod(index, columns)
        x, y = col * (width + GAP), row * (height + CAPTION_HEIGHT + GAP)
        draw.text((x + 4, y + 4), caption, fill="black", font=font())
        canvas.paste(tile.convert("RGB"), (x, y + CAPTION_HEIGHT))
    return canvas


def save_small(image: Image.Image, path: Path) -> None:
    """128 colours, no dithering: a fraction of a full-colour PNG's bytes, still good enough to
    read an ELA rendering, and no JPEG artefacts of its own."""
    small = image.quantize(
        colors=COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    buffer = io.BytesIO()
    small.save(buffer, "PNG", optimize=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"wrote {shown} ({len(buffer.getvalue()) // 1024} KB)")


def mask_of(casia: Path, tampered: str) -> Image.Image:
    return Image.open(casia / "masks" / (Path(tampered).stem + ".png")).convert("RGB")


def resaved_series(source: Path, folder: Path, counts: tuple[int, ...]) -> dict[int, Path]:
    """The photo re-saved at quality 90 again and again (in a temporary folder)."""
    image = Image.open(source).convert("RGB")
    out, saved = {}, 0
    for count in counts:
        while saved < count:
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=90)
            image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
            saved += 1
        path = folder / f"resaved-{count}.jpg"
        path.write_bytes(buffer.getvalue())
        out[count] = path
    return out


def casia_numbers(casia: Path) -> None:
    """The compression history of each class, and ELA inside vs outside the masks."""
    history = collections.Counter()
    ratios = []
    rule_right = total = 0
    for label in ("authentic", "tampered"):
        for path in sorted((casia / label).glob("*")):
            loaded = load_image(path)
            quality = loaded.facts.jpeg.quality
            kind = "standard" if quality.standard else "non-standard"
            history[(label, f"{kind} q{quality.quality}")] += 1
            # A rule read off the table below, to show how much the headers alone give away.
            header_says_tampered = (not quality.standard and quality.quality >= 94) or (
                quality.standard and quality.quality == 75
            )
            rule_right += header_says_tampered == (label == "tampered")
            total += 1
            mask_path = casia / "masks" / (path.stem + ".png")
            if label == "tampered" and mask_path.is_file():
                mask = np.asarray(Image.open(mask_path)) > 127
                if mask.shape == loaded.pixels.shape[:2] and mask.mean() >= 0.03:
                    diff = ela_difference(loaded.pixels, 90).max(axis=2).astype(np.float64)
                    ratios.append(diff[mask].mean() / max(diff[~mask].mean(), 1e-6))
    print("\nJPEG tables by class (quality estimated from the quantization tables):")
    for (label, kind), count in sorted(history.items()):
        print(f"  {label:9s} {kind:18s} {count}")
    print(f"  header-only rule (non-standard >= q94 or standard q75 means tampered): "
          f"{rule_right}/{total} right ({rule_right / total:.1%})")  # fmt: skip
    ratios = np.array(ratios)
    print(f"\nELA (q90) mean inside / outside the mask, {len(ratios)} tampered images:")
    print(f"  median {np.median(ratios):.2f}; below 1 (darker inside): {(ratios < 1).mean():.0%}; "
          f"above 2: {(ratios > 2).mean():.0%}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--casia", type=Path, default=DEFAULT_CASIA)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--no-numbers", action="store_true", help="skip the CASIA statistics")
    args = parser.parse_args()
    casia = args.casia
    if not (casia / "MANIFEST.tsv").is_file():
        raise SystemExit(f"CASIA v1 not found at {casia}")
    with tempfile.TemporaryDirectory(prefix="fv-doc-") as temp:
        work = Path(temp)
        authentic, visible, hidden = (
            casia / p for p in (AUTHENTIC, SPLICED_VISIBLE, SPLICED_HIDDEN)
        )

        nothing = Image.new("RGB", Image.open(authentic).size, "black")
        save_small(figure([
            (Image.open(authentic).convert("RGB"), f"authentic {authentic.name}"),
            (app_ela(authentic, work / "a.png"), "ELA q90, auto brightness"),
            (nothing, "mask: nothing pasted"),
            (Image.open(visible).convert("RGB"), f"spliced {visible.name[:20]}..."),
            (app_ela(visible, work / "v.png"), "ELA q90, auto brightness"),
            (mask_of(casia, SPLICED_VISIBLE), "mask (white = pasted)"),
        ], columns=3), args.out / "ela-authentic-vs-spliced.png")  # fmt: skip

        save_small(figure([
            (Image.open(hidden).convert("RGB"), f"spliced {hidden.name[:22]}..."),
            (app_ela(hidden, work / "h.png"), "ELA q90, auto brightness"),
            (mask_of(casia, SPLICED_HIDDEN), "ground-truth mask"),
        ]), args.out / "ela-splice-not-shown.png")  # fmt: skip

        series = resaved_series(authentic, work, (1, 3, 10))
        save_small(figure([
            (app_ela(authentic, work / "r0.png", scale="20"), "original, ELA gain x20"),
            *((app_ela(path, work / f"r{n}.png", scale="20"), f"re-saved {n}x at q90, gain x20")
              for n, path in series.items()),
        ], columns=2), args.out / "ela-resaved-goes-dark.png")  # fmt: skip

        save_small(figure([
            (app_ela(visible, work / f"q{q}.png", quality=q), f"ELA at q{q}")
            for q in (75, 95)
        ]), args.out / "ela-quality-choice.png")  # fmt: skip
    if not args.no_numbers:
        casia_numbers(casia)


if __name__ == "__main__":
    main()

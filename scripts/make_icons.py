"""Draw the application icon: resources/icons/hicolor/{scalable,NxN}/apps/forensic-viewer.*

    python scripts/make_icons.py [--out resources/icons]

The picture: a dark photo tile covered by 8x8-style blocks of error levels, one bright block
cluster (the spliced region), and a magnifying glass whose lens shows that region amplified.
The SVG and the PNGs come from one list of shapes, so they match; PNGs are drawn 4x larger and
averaged down (box filter: no ringing). The layout is the freedesktop hicolor theme's, so the
folder can be copied into ~/.local/share/icons/ as it is. Deterministic: same bytes every run.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
NAME = "forensic-viewer"
SIZES = (16, 32, 48, 64, 128, 256)
CANVAS = 256  # design units

BACKGROUND = "#1f2a33"
TILE = "#2d3b45"
LENS_RIM = "#e8eef2"
HANDLE = "#c98b2b"

# A 6x6 grid of error-level blocks on the photo tile; the higher the level, the brighter.
GRID_ORIGIN, BLOCK, GRID = (40, 40), 24, 6
LEVELS = [
    [1, 2, 1, 1, 2, 1],
    [2, 1, 2, 1, 1, 2],
    [1, 1, 6, 8, 2, 1],
    [2, 1, 8, 9, 3, 1],
    [1, 2, 3, 2, 1, 2],
    [1, 1, 2, 1, 2, 1],
]
LENS_CENTER, LENS_RADIUS, RIM_WIDTH = (124, 116), 56, 14


def block_colour(level: int, amplified: bool) -> str:
    """Dim blue-grey for low error levels, warm and bright for high ones (brighter in the lens)."""
    gain = 1.8 if amplified else 1.0
    t = min(1.0, level * gain / 9)
    low, high = (52, 70, 84), (255, 196, 64)
    rgb = tuple(round(a + (b - a) * t) for a, b in zip(low, high, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def blocks(amplified: bool) -> list[tuple[int, int, int, int, str]]:
    x0, y0 = GRID_ORIGIN
    gap = 2
    out = []
    for row, levels in enumerate(LEVELS):
        for col, level in enumerate(levels):
            left, top = x0 + col * BLOCK, y0 + row * BLOCK
            out.append((left + gap, top + gap, left + BLOCK - gap, top + BLOCK - gap,
                        block_colour(level, amplified)))  # fmt: skip
    return out


def handle_line() -> tuple[float, float, float, float]:
    cx, cy = LENS_CENTER
    offset = (LENS_RADIUS + RIM_WIDTH / 2) * 0.7071
    return (cx + offset, cy + offset, 222, 214)


def svg() -> str:
    cx, cy = LENS_CENTER
    hx0, hy0, hx1, hy1 = handle_line()
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CANVAS}" height="{CANVAS}" '
        f'viewBox="0 0 {CANVAS} {CANVAS}">',
        "  <title>Forensic Viewer</title>",
        f'  <defs><clipPath id="lens"><circle cx="{cx}" cy="{cy}" r="{LENS_RADIUS}"/>'
        "</clipPath></defs>",
        f'  <rect x="8" y="8" width="240" height="240" rx="44" fill="{BACKGROUND}"/>',
        f'  <rect x="32" y="32" width="160" height="160" rx="10" fill="{TILE}"/>',
    ]
    for left, top, right, bottom, colour in blocks(amplified=False):
        parts.append(f'  <rect x="{left}" y="{top}" width="{right - left}" '
                     f'height="{bottom - top}" fill="{colour}"/>')  # fmt: skip
    parts.append('  <g clip-path="url(#lens)">')
    parts.append(f'    <circle cx="{cx}" cy="{cy}" r="{LENS_RADIUS}" fill="{TILE}"/>')
    for left, top, right, bottom, colour in blocks(amplified=True):
        parts.append(f'    <rect x="{left}" y="{top}" width="{right - left}" '
                     f'height="{bottom - top}" fill="{colour}"/>')  # fmt: skip
    parts.append("  </g>")
    parts.append(f'  <line x1="{hx0:.1f}" y1="{hy0:.1f}" x2="{hx1}" y2="{hy1}" stroke="{HANDLE}" '
                 'stroke-width="26" stroke-linecap="round"/>')  # fmt: skip
    parts.append(f'  <circle cx="{cx}" cy="{cy}" r="{LENS_RADIUS + RIM_WIDTH / 2}" fill="none" '
                 f'stroke="{LENS_RIM}" stroke-width="{RIM_WIDTH}"/>')  # fmt: skip
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def render(size: int, supersample: int = 4) -> Image.Image:
    scale = size * supersample / CANVAS
    big = size * supersample

    def s(*values: float) -> list[float]:
        return [v * scale for v in values]

    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(s(8, 8, 248, 248), radius=44 * scale, fill=BACKGROUND)
    draw.rounded_rectangle(s(32, 32, 192, 192), radius=10 * scale, fill=TILE)
    for left, top, right, bottom, colour in blocks(amplified=False):
        draw.rectangle(s(left, top, right - 1 / scale, bottom - 1 / scale), fill=colour)

    cx, cy = LENS_CENTER
    lens = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    lens_draw = ImageDraw.Draw(lens)
    lens_draw.ellipse(s(cx - LENS_RADIUS, cy - LENS_RADIUS, cx + LENS_RADIUS, cy + LENS_RADIUS),
                      fill=TILE)  # fmt: skip
    for left, top, right, bottom, colour in blocks(amplified=True):
        lens_draw.rectangle(s(left, top, right - 1 / scale, bottom - 1 / scale), fill=colour)
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).ellipse(
        s(cx - LENS_RADIUS, cy - LENS_RADIUS, cx + LENS_RADIUS, cy + LENS_RADIUS), fill=255
    )
    image.paste(lens, (0, 0), mask)

    hx0, hy0, hx1, hy1 = handle_line()
    width = 26 * scale
    draw.line(s(hx0, hy0, hx1, hy1), fill=HANDLE, width=round(width))
    for x, y in ((hx0, hy0), (hx1, hy1)):  # round caps
        draw.ellipse([x * scale - width / 2, y * scale - width / 2,
                      x * scale + width / 2, y * scale + width / 2], fill=HANDLE)  # fmt: skip
    outer = LENS_RADIUS + RIM_WIDTH
    draw.ellipse(s(cx - outer, cy - outer, cx + outer, cy + outer), outline=LENS_RIM,
                 width=round(RIM_WIDTH * scale))  # fmt: skip
    return image.resize((size, size), Image.Resampling.BOX)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def write_icons(out: Path) -> list[Path]:
    written = []
    scalable = out / "hicolor" / "scalable" / "apps" / f"{NAME}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    scalable.write_text(svg(), encoding="utf-8")
    written.append(scalable)
    for size in SIZES:
        path = out / "hicolor" / f"{size}x{size}" / "apps" / f"{NAME}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes(render(size)))
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description="Draw the Forensic Viewer icon")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "icons")
    for path in write_icons(parser.parse_args().out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()

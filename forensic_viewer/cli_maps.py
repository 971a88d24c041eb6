"""``predict --maps DIR``: each image's tamper map as an 8-bit grayscale PNG at the image's own
(stored) size, 255 = P(tampered) 1, so localisation can be scored from outside.

Maps go only into DIR: never beside the evidence (DIR may not be a folder holding an input), and
an existing file is never overwritten (the run is refused before any work).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def plan_maps(maps_dir: str | Path, files: list[Path]) -> tuple[dict[Path, Path], str | None]:
    """(input -> PNG path, None) or ({}, the reason the run is refused)."""
    folder = Path(maps_dir)
    if folder.exists() and not folder.is_dir():
        return {}, f"--maps {folder}: not a folder"
    resolved = folder.resolve()
    targets: dict[Path, Path] = {}
    seen: dict[str, Path] = {}
    for path in files:
        if path.parent.resolve() == resolved:
            return {}, f"--maps {folder}: holds the input {path.name}; write maps elsewhere"
        name = path.stem + ".png"
        if name in seen:
            return {}, f"--maps: {seen[name]} and {path} would both write {name}"
        seen[name] = path
        target = folder / name
        if target.exists():
            return {}, f"--maps: {target} exists; refusing to overwrite it"
        targets[path] = target
    return targets, None


def map_png(heat) -> bytes:
    """PNG bytes of ``heat.upsample()`` (H x W P(tampered)) as 8-bit gray, 255 = 1."""
    from PIL import Image

    values = np.rint(np.clip(heat.upsample(), 0.0, 1.0) * 255.0).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(values, mode="L").save(out, "PNG")
    return out.getvalue()


def write_map(target: Path, heat) -> None:
    from .core.atomic import atomic_open

    target.parent.mkdir(parents=True, exist_ok=True)
    data = map_png(heat)
    if target.exists():  # appeared since the run was planned: still never overwrite
        raise FileExistsError(f"{target} exists; refusing to overwrite it")
    with atomic_open(target) as handle:
        handle.write(data)

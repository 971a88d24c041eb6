"""Build the one-folder bundle in dist/forensic-viewer/ from a build venv with a CPU-only torch.

    python packaging/build_bundle.py [--torch SPEC] [--torch-index URL] [--venv DIR]

Why a separate venv: PyPI's Linux torch wheels are CUDA builds. Their libtorch_python.so links
libtorch_cuda.so, libcudart, cuDNN and NCCL directly (ELF NEEDED entries), so a bundle made from
them must carry ~4 GB of CUDA libraries (5.2 GB in all), even though the app runs on the CPU.
A CPU-only torch has none of them. The build venv (build/bundle-venv, reused while the
requirements are unchanged) gets the project's runtime dependencies from pyproject.toml with the
torch requirement replaced by ``--torch`` (default: ``torch==2.13.0+cpu``, the CPU wheel this
workplace keeps in pip's find-links; elsewhere pass e.g. ``--torch torch==2.14.1+cpu
--torch-index <PyTorch's CPU wheel index>``). torchvision is left out: the app never imports it.

Prints the bundle's size and its largest parts at the end. Exit status: 0 built, 1 failed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "forensic-viewer.spec"
DEFAULT_TORCH = os.environ.get("FV_BUNDLE_TORCH", "torch==2.13.0+cpu")
DEFAULT_TORCH_INDEX = os.environ.get("FV_BUNDLE_TORCH_INDEX", "")
PYINSTALLER = "pyinstaller>=6.6"
LEFT_OUT = {"torch", "torchvision"}


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def runtime_requirements(torch_spec: str) -> list[str]:
    """pyproject's dependencies with torch swapped for a CPU build and torchvision dropped."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    kept = [r for r in project["dependencies"] if requirement_name(r) not in LEFT_OUT]
    return [*kept, torch_spec, PYINSTALLER]


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path, requirements: list[str], torch_index: str) -> Path:
    python = venv_python(venv)
    stamp = venv / ".forensic-viewer-bundle"
    wanted = hashlib.sha256("\n".join([*requirements, torch_index]).encode()).hexdigest()
    if python.exists() and stamp.is_file() and stamp.read_text() == wanted:
        print(f"build venv {venv} is up to date", flush=True)
        return python
    if not python.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    command = [str(python), "-m", "pip", "install", "-q", *requirements]
    if torch_index:
        command[4:4] = ["--extra-index-url", torch_index]
    print("installing into the build venv:", " ".join(requirements), flush=True)
    subprocess.run(command, check=True)
    stamp.write_text(wanted)
    return python


def folder_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = Path(root) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def size_report(bundle: Path, top: int = 12) -> str:
    internal = bundle / "_internal"
    parts = []
    for entry in internal.iterdir() if internal.is_dir() else []:
        if entry.is_symlink():
            continue
        size = folder_size(entry) if entry.is_dir() else entry.stat().st_size
        parts.append((size, entry.name))
    parts.sort(reverse=True)
    lines = [f"bundle {bundle}: {folder_size(bundle) / 2**20:,.0f} MiB"]
    lines += [f"  {size / 2**20:9,.1f} MiB  {name}" for size, name in parts[:top]]
    return "\n".join(lines)


def build(python: Path, dist: Path, work: Path) -> Path:
    pyinstaller = python.parent / "pyinstaller"
    command = [str(pyinstaller), "--noconfirm", "--clean", "--log-level", "WARN"]
    command += ["--distpath", str(dist), "--workpath", str(work), str(SPEC)]
    subprocess.run(command, check=True, cwd=ROOT)
    return dist / "forensic-viewer"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch", default=DEFAULT_TORCH, help="CPU torch requirement")
    parser.add_argument("--torch-index", default=DEFAULT_TORCH_INDEX, help="extra index URL")
    parser.add_argument("--venv", type=Path, default=ROOT / "build" / "bundle-venv")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--work", type=Path, default=ROOT / "build")
    parser.add_argument(
        "--use-current-python",
        action="store_true",
        help="build with this interpreter instead of the build venv (its torch must be CPU-only)",
    )
    args = parser.parse_args(argv)
    if shutil.which("objdump") is None:
        print("build_bundle: PyInstaller needs objdump (Debian package binutils)", file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        if args.use_current_python:
            python = Path(sys.executable)
        else:
            requirements = runtime_requirements(args.torch)
            python = ensure_venv(args.venv, requirements, args.torch_index)
        ready = time.monotonic()
        bundle = build(python, args.dist.resolve(), args.work.resolve())
    except subprocess.CalledProcessError as exc:
        print(f"build_bundle: {' '.join(map(str, exc.cmd[:3]))}... failed ({exc.returncode})",
              file=sys.stderr)  # fmt: skip
        return 1
    done = time.monotonic()
    print(size_report(bundle))
    print(f"venv {ready - started:.0f} s, PyInstaller {done - ready:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

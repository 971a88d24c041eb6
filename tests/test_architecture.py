"""Dependencies run one way: ui -> ml -> core. core and ml must never load Qt."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import forensic_viewer.ml


def modules_after_import(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(','.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return set(out.strip().split(","))


def test_core_loads_neither_qt_nor_torch():
    loaded = modules_after_import(
        "import forensic_viewer.core.images, forensic_viewer.core.ela, forensic_viewer.core.jpeg,"
        " forensic_viewer.core.metadata, forensic_viewer.core.atomic, forensic_viewer.core.paths"
    )
    assert "forensic_viewer.core.ela" in loaded
    assert not {m for m in loaded if m.split(".")[0] in ("PySide6", "pyqtgraph", "torch")}


ML_MODULES = sorted(m.name for m in pkgutil.iter_modules(forensic_viewer.ml.__path__))


def test_every_ml_module_is_checked():
    assert {"model", "predict", "scoring", "train", "data"} <= set(ML_MODULES)


@pytest.mark.parametrize("module", ML_MODULES)
def test_ml_loads_no_qt(module):
    loaded = modules_after_import(f"import forensic_viewer.ml.{module}")
    assert not {m for m in loaded if m.split(".")[0] in ("PySide6", "pyqtgraph")}


def test_cli_subcommands_load_no_qt():
    loaded = modules_after_import("import forensic_viewer.cli as c; c.build_parser()")
    assert not {m for m in loaded if m.split(".")[0] in ("PySide6", "pyqtgraph", "torch")}

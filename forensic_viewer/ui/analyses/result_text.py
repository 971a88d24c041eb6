"""An analysis result as text: its findings as HTML lines and its report data as tree rows."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtWidgets import QTreeWidgetItem

SEVERITY_COLOURS = {"warning": "#e67e22", "notice": "#d4ac0d", "info": ""}


def findings_html(findings) -> str:
    rows = []
    for finding in findings:
        colour = SEVERITY_COLOURS.get(finding.severity, "")
        mark = "&#9888; " if finding.severity == "warning" else "&bull; "
        style = f' style="color:{colour}"' if colour else ""
        rows.append(f"<div{style}>{mark}{html.escape(finding.text)}</div>")
    return "".join(rows)


def add_items(parent: QTreeWidgetItem, value: Any, budget: list[int]) -> None:
    """``value``'s keys and items as rows under ``parent``, at most ``budget[0]`` rows in all."""
    entries = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in entries:
        if budget[0] <= 0:
            QTreeWidgetItem(parent, ["...", "more in the JSON report"])
            return
        budget[0] -= 1
        if isinstance(item, dict | list) and item:
            node = QTreeWidgetItem(parent, [str(key), f"{len(item)} entries"])
            add_items(node, item, budget)
        else:
            QTreeWidgetItem(parent, [str(key), "" if item is None else str(item)])

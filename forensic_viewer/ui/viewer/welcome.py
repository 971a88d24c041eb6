"""What the empty window shows: a drop target that says what the app does and how to drive it.

The window itself receives drops (``MainWindow.dropEvent``); this widget only draws the target and
lights it up while files are dragged over the window.
"""

from __future__ import annotations

import os
from urllib.parse import unquote_to_bytes

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

TITLE = "Drop photos or folders here"
WHAT_IT_DOES = (
    "Forensic Viewer looks for signs of editing in photos, offline. It shows each photo beside "
    "its Error Level Analysis (parts saved at another JPEG quality light up differently), the "
    "same at several qualities, a trained network's verdict with a heatmap, and the file's "
    "facts: JPEG quality, EXIF, SHA-256. Nothing is ever written next to your files."
)
SHORTCUTS = (
    ("Ctrl+O  /  Ctrl+Shift+O", "Open files / a folder"),
    ("Up  /  Down", "Previous / next image"),
    ("F3  /  F4", "ELA beside the original / quality grid"),
    ("F6  /  Space", "Cycle the views / flip original and ELA"),
    ("Ctrl+0  /  Ctrl+1", "Fit / 100% (or double-click)"),
    ("F1", "Every shortcut"),
)


def local_path(url: QUrl) -> str:
    """The file a dropped URL names, byte for byte.

    File managers percent-encode the path's bytes; ``QUrl.toLocalFile`` decodes them as UTF-8
    and turns a Latin-1 name into U+FFFD, naming a file that does not exist. Decoding the bytes
    and then the file-system encoding (surrogate escapes) keeps every name Linux allows.
    """
    encoded = url.path(QUrl.ComponentFormattingOption.FullyEncoded)
    return os.fsdecode(unquote_to_bytes(encoded))


IDLE_STYLE = (
    "#DropTarget { border: 2px dashed #8a8a8a; border-radius: 12px; background: palette(base); }"
)
HOVER_STYLE = (
    "#DropTarget { border: 3px dashed #3daee9; border-radius: 12px;"
    " background: rgba(61, 174, 233, 40); }"
)


class WelcomePane(QWidget):
    """The empty window's centre: a dashed drop target with a short guide and two buttons."""

    openFilesRequested = Signal()
    openFolderRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.target = QFrame()
        self.target.setObjectName("DropTarget")
        self.target.setStyleSheet(IDLE_STYLE)
        self.title = QLabel(TITLE)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.text = QLabel(WHAT_IT_DOES)
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.open_files = QPushButton("Open Files...")
        self.open_files.setToolTip("Ctrl+O")
        self.open_files.clicked.connect(self.openFilesRequested)
        self.open_folder = QPushButton("Open Folder...")
        self.open_folder.setToolTip("Ctrl+Shift+O: every image in a folder, recursively")
        self.open_folder.clicked.connect(self.openFolderRequested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_files)
        buttons.addWidget(self.open_folder)
        buttons.addStretch(1)
        keys = QGridLayout()
        keys.setHorizontalSpacing(16)
        keys.setVerticalSpacing(4)
        for row, (key, meaning) in enumerate(SHORTCUTS):
            key_label = QLabel(key)
            key_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            key_label.setStyleSheet("font-weight: bold;")
            keys.addWidget(key_label, row, 0)
            keys.addWidget(QLabel(meaning), row, 1)
        keys_row = QHBoxLayout()
        keys_row.addStretch(1)
        keys_row.addLayout(keys)
        keys_row.addStretch(1)

        inner = QVBoxLayout(self.target)
        inner.setContentsMargins(32, 28, 32, 28)
        inner.setSpacing(14)
        inner.addStretch(1)
        inner.addWidget(self.title)
        inner.addWidget(self.text)
        inner.addLayout(buttons)
        inner.addSpacing(6)
        inner.addLayout(keys_row)
        inner.addStretch(1)
        self.target.setMaximumWidth(760)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(24, 24, 24, 24)
        outer.addStretch(1)
        outer.addWidget(self.target, 4)
        outer.addStretch(1)
        self.hovering = False

    def set_hover(self, on: bool) -> None:
        """Light the target up while files are dragged over the window."""
        self.hovering = on
        self.target.setStyleSheet(HOVER_STYLE if on else IDLE_STYLE)

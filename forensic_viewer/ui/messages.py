"""A non-modal message bar: problems with files are listed, never one dialog per file."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from .viewer.document import printable

SHOWN = 4


class MessageBar(QFrame):
    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MessageBar")
        self.setStyleSheet(
            "#MessageBar { background: #4a3b12; border-bottom: 1px solid #8a6d1a; }"
            "#MessageBar QLabel { color: #f5e6b8; }"
        )
        self.messages: list[str] = []
        self.text = QLabel()
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("Dismiss")
        close.setToolTip("Hide these messages (Esc)")
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.text, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def add(self, message: str) -> None:
        self.messages.append(printable(message))
        recent = self.messages[-SHOWN:]
        hidden = len(self.messages) - len(recent)
        lines = [escape(m) for m in recent]
        if hidden:
            lines.insert(0, f"<i>{hidden} earlier message(s) - see the tooltip</i>")
        self.text.setText("<br>".join(lines))
        self.setToolTip("\n".join(self.messages[-50:]))
        self.show()

    def dismiss(self) -> None:
        self.messages.clear()
        self.text.clear()
        self.hide()
        self.dismissed.emit()

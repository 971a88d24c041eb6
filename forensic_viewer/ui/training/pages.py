"""Wizard pages 1 and 2: the labelled folder (what was found in it) and the training settings.

Discovery (``ml.data.scan_dataset`` plus a few thumbnails) runs on the wizard's worker pool; a
generation counter drops the result of a folder the user has already moved away from. Nothing
here imports torch: ``ml.data`` is numpy/Pillow only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWizardPage,
)

from ...core.images import orient
from ...core.metadata import display_orientation, exif_summary
from ...ml.data import AUTHENTIC, TAMPERED, Dataset, scan_dataset
from ..settings import AppSettings
from ..viewer.filmstrip import array_to_pixmap
from ..workers import GenerationCounter, Worker

THUMBNAILS_PER_CLASS = 6
THUMBNAIL_SIZE = 84
MIN_IMAGES_PER_CLASS = 2
"""Below this a class cannot appear in both the training and the validation split."""
SKIPPED_SHOWN = 500
SPLIT_DESCRIPTIONS = {
    "manifest": "by source photo, from the group_id column of MANIFEST.tsv",
    "casia-names": "by source photo, from the photo ids in the CASIA file names",
    "none": "random by file (no source-photo groups known)",
}
WARNING_STYLE = "color: #9a5b00;"
ERROR_STYLE = "color: #b00020;"


@dataclass
class Discovery:
    """What the worker found in a folder: the dataset and a few thumbnails per class."""

    folder: str
    dataset: Dataset
    thumbnails: dict[int, list[tuple[str, np.ndarray]]] = field(default_factory=dict)


def _thumbnail(path: Path, size: int) -> np.ndarray | None:
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size * 2, size * 2))  # JPEG: decode at a reduced scale, fast
            image = _upright(image)
            image.thumbnail((size, size), Image.Resampling.BOX)
            return np.ascontiguousarray(np.asarray(image))
    except (OSError, SyntaxError, ValueError):
        return None


def _upright(image: Image.Image) -> Image.Image:
    """RGB, turned as its EXIF Orientation says; odd EXIF never hides the picture."""
    try:
        return ImageOps.exif_transpose(image).convert("RGB")
    except Exception:  # noqa: BLE001 - Pillow also rewrites the EXIF, and fails on odd tag types
        orientation, _ = display_orientation(exif_summary(image))
        rgb = orient(np.asarray(image.convert("RGB")), orientation)
        return Image.fromarray(np.ascontiguousarray(rgb))


def discover(folder: str, per_class: int = THUMBNAILS_PER_CLASS) -> Discovery:
    """Scan ``folder`` (runs on a worker thread) and pick thumbnails spread over each class."""
    dataset = scan_dataset(folder)
    thumbnails: dict[int, list[tuple[str, np.ndarray]]] = {}
    for label in (AUTHENTIC, TAMPERED):
        paths = [s.path for s in dataset.samples if s.label == label]
        step = max(1, len(paths) // per_class)
        picked = []
        for path in paths[::step]:
            array = _thumbnail(path, THUMBNAIL_SIZE)
            if array is not None:
                picked.append((path.name, array))
            if len(picked) == per_class:
                break
        thumbnails[label] = picked
    return Discovery(folder, dataset, thumbnails)


def dropped_folder(mime) -> str | None:
    """The first local folder among dragged URLs (files are not datasets)."""
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and Path(url.toLocalFile()).is_dir():
            return url.toLocalFile()
    return None


class FolderEdit(QLineEdit):
    """A path field that also accepts a folder dragged from the file manager."""

    folderDropped = Signal(str)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if dropped_folder(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if dropped_folder(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        folder = dropped_folder(event.mimeData())
        if folder is None:
            super().dropEvent(event)
            return
        event.acceptProposedAction()
        self.setText(folder)
        self.folderDropped.emit(folder)


class DataPage(QWizardPage):
    """Page 1: choose the labelled folder; show counts, thumbnails, skipped files and warnings."""

    discoveryFinished = Signal()

    def __init__(self, start_folder: str | None = None) -> None:
        super().__init__()
        self.setTitle("Choose a labelled folder")
        self.setSubTitle(
            "Put authentic photos in an 'authentic' folder and manipulated ones in a 'tampered' "
            "folder (aliases such as real/fake work), or use CASIA names (Au_*, Tp_*, Sp_*). "
            "Drag a folder here or browse."
        )
        self.setAcceptDrops(True)
        self.generation = GenerationCounter()
        self.discovery: Discovery | None = None
        self.error: str | None = None
        # Without a folder from the caller, offer the one the last run trained on.
        self._start_folder = start_folder or AppSettings().last_dir("dataset") or None

        self.folder_edit = FolderEdit()
        self.folder_edit.setPlaceholderText("Folder with authentic/ and tampered/ images")
        self.folder_edit.setToolTip("The dataset folder; subfolders are searched too")
        self.browse_button = QPushButton("Browse...")
        self.browse_button.setToolTip("Choose the dataset folder")
        self.status = QLabel("No folder chosen yet.")
        self.status.setWordWrap(True)
        self.split_label = QLabel()
        self.split_label.setWordWrap(True)
        self.warnings_label = QLabel()
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet(WARNING_STYLE)
        self.warnings_label.setTextFormat(Qt.TextFormat.RichText)
        self.skipped_label = QLabel()
        self.skipped_list = QListWidget()
        self.skipped_list.setMaximumHeight(110)
        self.skipped_list.setToolTip("Files that will not be used, and why")

        self.class_grid = QGridLayout()
        self.count_labels: dict[int, QLabel] = {}
        self.thumbnail_rows: dict[int, QHBoxLayout] = {}
        for row, (label, name) in enumerate(((AUTHENTIC, "Authentic"), (TAMPERED, "Tampered"))):
            title = QLabel(f"<b>{name}</b>")
            count = QLabel("-")
            count.setMinimumWidth(90)
            thumbs = QHBoxLayout()
            thumbs.setSpacing(4)
            thumbs.addStretch(1)
            self.class_grid.addWidget(title, row, 0)
            self.class_grid.addWidget(count, row, 1)
            self.class_grid.addLayout(thumbs, row, 2)
            self.count_labels[label] = count
            self.thumbnail_rows[label] = thumbs
        self.class_grid.setColumnStretch(2, 1)
        classes = QFrame()
        classes.setFrameShape(QFrame.Shape.StyledPanel)
        classes.setLayout(self.class_grid)

        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.browse_button)
        layout = QVBoxLayout(self)
        layout.addLayout(folder_row)
        layout.addWidget(self.status)
        layout.addWidget(classes)
        layout.addWidget(self.split_label)
        layout.addWidget(self.warnings_label)
        layout.addWidget(self.skipped_label)
        layout.addWidget(self.skipped_list)
        layout.addStretch(1)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(400)
        self._debounce.timeout.connect(self.scan_current)
        self.folder_edit.textEdited.connect(lambda _text: self._debounce.start())
        self.folder_edit.returnPressed.connect(self.scan_current)
        self.folder_edit.folderDropped.connect(self.set_folder)
        self.browse_button.clicked.connect(self.browse)
        self._show_discovery(None)

    # ---- folder choice -------------------------------------------------------------------------
    def initializePage(self) -> None:  # noqa: N802 - Qt's name
        if self._start_folder and not self.folder_edit.text():
            self.set_folder(self._start_folder)

    def browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Choose the labelled folder", self.folder_edit.text() or str(Path.home())
        )
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str) -> None:
        self.folder_edit.setText(folder)
        self.scan_current()

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if dropped_folder(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        folder = dropped_folder(event.mimeData())
        if folder:
            event.acceptProposedAction()
            self.set_folder(folder)

    def folder(self) -> str:
        return self.folder_edit.text().strip()

    def scan_current(self) -> None:
        self._debounce.stop()
        folder = self.folder()
        generation = self.generation.bump()
        self.discovery, self.error = None, None
        self._show_discovery(None)
        if not folder:
            self.status.setText("No folder chosen yet.")
            return
        if not Path(folder).is_dir():
            self._fail(f"{folder}: not a folder.")
            return
        self.status.setText(f"Looking for labelled images in {folder} ...")
        worker = Worker(discover, folder)
        worker.returned.connect(lambda result, g=generation: self._discovered(g, result))
        worker.errored.connect(lambda exc, g=generation: self._failed(g, exc))
        self.wizard().pool.start(worker, generation)

    @property
    def busy(self) -> bool:
        return self.discovery is None and self.error is None and bool(self.folder())

    # ---- results -------------------------------------------------------------------------------
    def _discovered(self, generation: int, discovery: Discovery) -> None:
        if not self.generation.accept(generation):
            return
        self.discovery = discovery
        self._show_discovery(discovery)
        self.completeChanged.emit()
        self.discoveryFinished.emit()

    def _failed(self, generation: int, exc: Exception) -> None:
        if self.generation.accept(generation):
            self._fail(f"Could not read the folder: {exc}")
            self.discoveryFinished.emit()

    def _fail(self, message: str) -> None:
        self.error = message
        self.status.setText(message)
        self.status.setStyleSheet(ERROR_STYLE)
        self.completeChanged.emit()

    def _show_discovery(self, discovery: Discovery | None) -> None:
        self.status.setStyleSheet("")
        for label, row in self.thumbnail_rows.items():
            while row.count() > 1:  # keep the trailing stretch
                item = row.takeAt(0)
                if item.widget() is not None:
                    item.widget().deleteLater()
            self.count_labels[label].setText("-")
        self.skipped_list.clear()
        if discovery is None:
            for widget in (self.split_label, self.warnings_label, self.skipped_label):
                widget.clear()
            self.skipped_list.hide()
            return
        dataset = discovery.dataset
        counts = dataset.counts()
        total = counts["authentic"] + counts["tampered"]
        self.status.setText(
            f"Found {total} labelled images in {dataset.root}"
            f" ({len(dataset.skipped)} files skipped)."
        )
        for label, name in ((AUTHENTIC, "authentic"), (TAMPERED, "tampered")):
            self.count_labels[label].setText(f"{counts[name]} images")
            row = self.thumbnail_rows[label]
            for file_name, array in discovery.thumbnails.get(label, []):
                thumb = QLabel()
                thumb.setPixmap(array_to_pixmap(array))
                thumb.setToolTip(file_name)
                thumb.setFixedSize(THUMBNAIL_SIZE + 4, THUMBNAIL_SIZE + 4)
                thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
                row.insertWidget(row.count() - 1, thumb)
        groups = len({s.group for s in dataset.samples})
        grouped = f" ({groups} source-photo groups)" if dataset.group_source != "none" else ""
        self.split_label.setText(
            f"Validation split: {SPLIT_DESCRIPTIONS[dataset.group_source]}{grouped}."
        )
        warnings = list(dataset.warnings)
        if total and min(counts.values()) < MIN_IMAGES_PER_CLASS:
            warnings.insert(
                0, f"Each class needs at least {MIN_IMAGES_PER_CLASS} images to train at all."
            )
        self.warnings_label.setText("<br>".join("&#9888; " + escape(w) for w in warnings))
        self.skipped_label.setText(
            f"Skipped files ({len(dataset.skipped)}):" if dataset.skipped else "No files skipped."
        )
        self.skipped_list.setVisible(bool(dataset.skipped))
        for path, reason in dataset.skipped[:SKIPPED_SHOWN]:
            item = QListWidgetItem(f"{path.name}: {reason}")
            item.setToolTip(str(path))
            self.skipped_list.addItem(item)
        if len(dataset.skipped) > SKIPPED_SHOWN:
            self.skipped_list.addItem(f"... and {len(dataset.skipped) - SKIPPED_SHOWN} more")

    def isComplete(self) -> bool:  # noqa: N802 - Qt's name
        if self.discovery is None or self.discovery.folder != self.folder():
            return False
        counts = self.discovery.dataset.counts()
        return min(counts.values()) >= MIN_IMAGES_PER_CLASS

    def dataset(self) -> Dataset | None:
        return self.discovery.dataset if self.discovery is not None else None

"""Pictures for the training wizard: live loss/accuracy plots, the confusion matrix, the ROC curve.

Live plots keep their PlotDataItems and call ``setData`` with the growing arrays (pyqtgraph's
advice for streaming data: no new items per point, no clearing). The plots use a light background
so they sit naturally in the wizard's ordinary (light) dialog palette.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QHBoxLayout, QWidget

from .._pyqtgraph import pg

TRAIN_COLOUR = "#1f77b4"
VAL_COLOUR = "#e4572e"
PIXEL_COLOUR = "#2ca02c"
BATCH_COLOUR = "#9fb7cc"
AXIS_COLOUR = "#404040"
LEGEND_ROW = 4
"""PlotItem's layout: title 0, top axis 1, view 2, bottom axis 3; the legend goes below."""


def _styled_plot(title: str, y_label: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="w")
    plot.setTitle(title, color=AXIS_COLOUR, size="11pt")
    plot.showGrid(x=True, y=True, alpha=0.25)
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setPen(pg.mkPen(AXIS_COLOUR))
        axis.setTextPen(pg.mkPen(AXIS_COLOUR))
        axis.enableAutoSIPrefix(False)  # "loss (x0.001)" with ticks at 700 reads badly
    plot.setLabel("left", y_label, color=AXIS_COLOUR)
    plot.setMouseEnabled(x=False, y=False)  # a live plot that pans away under the user is noise
    plot.hideButtons()
    plot.setMenuEnabled(False)
    # The legend sits in its own row under the axis, never over the curves (inside the view
    # it covered the first epochs' points). PlotItem.plot(name=...) fills it as before.
    item = plot.getPlotItem()
    legend = pg.LegendItem(colCount=3, labelTextColor=AXIS_COLOUR, horSpacing=18)
    item.layout.addItem(legend, LEGEND_ROW, 1)
    item.legend = legend
    return plot


class TrainingPlots(QWidget):
    """Loss (running batch loss, train and validation per epoch) beside accuracy (per epoch).

    The x axis is in epochs: batch ``b`` of ``B`` in epoch ``e`` sits at ``e - 1 + b / B``, so an
    epoch's summary point lands at the end of its batches.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_plot = _styled_plot("Loss (cross-entropy)", "loss")
        self.accuracy_plot = _styled_plot("Accuracy", "accuracy")
        self.accuracy_plot.setYRange(0.0, 1.0, padding=0.02)
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.setLabel("bottom", "epoch", color=AXIS_COLOUR)
        self.accuracy_plot.setXLink(self.loss_plot)  # the same epochs under both plots
        self.batch_loss_curve = self.loss_plot.plot(
            pen=pg.mkPen(BATCH_COLOUR, width=1), name="batch (running)"
        )
        self.train_loss_curve = self._epoch_curve(self.loss_plot, TRAIN_COLOUR, "train")
        self.val_loss_curve = self._epoch_curve(self.loss_plot, VAL_COLOUR, "validation")
        self.train_acc_curve = self._epoch_curve(self.accuracy_plot, TRAIN_COLOUR, "train")
        self.val_acc_curve = self._epoch_curve(self.accuracy_plot, VAL_COLOUR, "validation")
        # The localiser's pixel metric: median per-image pixel ROC AUC on validation masks.
        self.pixel_auc_curve = self._epoch_curve(self.accuracy_plot, PIXEL_COLOUR, "pixel AUC")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.accuracy_plot)
        self.clear()

    @staticmethod
    def _epoch_curve(plot: pg.PlotWidget, colour: str, name: str) -> pg.PlotDataItem:
        return plot.plot(
            pen=pg.mkPen(colour, width=2),
            symbol="o",
            symbolSize=6,
            symbolBrush=colour,
            symbolPen=colour,
            name=name,
        )

    def clear(self) -> None:
        self.batch_x: list[float] = []
        self.batch_loss: list[float] = []
        self.epochs: list[int] = []
        self.train_loss: list[float] = []
        self.val_loss: list[float] = []
        self.train_acc: list[float] = []
        self.val_acc: list[float] = []
        self.pixel_epochs: list[int] = []
        self.pixel_auc: list[float] = []
        for curve in self.curves():
            curve.setData([], [])
        self.loss_plot.enableAutoRange()

    def curves(self) -> list[pg.PlotDataItem]:
        return [
            self.batch_loss_curve,
            self.train_loss_curve,
            self.val_loss_curve,
            self.train_acc_curve,
            self.val_acc_curve,
            self.pixel_auc_curve,
        ]

    def add_pixel_metric(self, epoch: int, pixel_auc: float) -> None:
        """The localiser's validation pixel AUC (median over tampered images) for an epoch."""
        if pixel_auc == pixel_auc:  # NaN (no tampered validation image) is not drawn
            self.pixel_epochs.append(int(epoch))
            self.pixel_auc.append(float(pixel_auc))
            self.pixel_auc_curve.setData(self.pixel_epochs, self.pixel_auc)

    def add_batch(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        self.batch_x.append(epoch - 1 + batch / max(batches, 1))
        self.batch_loss.append(float(loss))
        self.batch_loss_curve.setData(self.batch_x, self.batch_loss)

    def add_epoch(
        self, epoch: int, train_loss: float, val_loss: float, train_acc: float, val_acc: float
    ) -> None:
        self.epochs.append(int(epoch))
        self.train_loss.append(float(train_loss))
        self.val_loss.append(float(val_loss))
        self.train_acc.append(float(train_acc))
        self.val_acc.append(float(val_acc))
        self.train_loss_curve.setData(self.epochs, self.train_loss)
        self.val_loss_curve.setData(self.epochs, self.val_loss)
        self.train_acc_curve.setData(self.epochs, self.train_acc)
        self.val_acc_curve.setData(self.epochs, self.val_acc)


class RocPlot(pg.PlotWidget):
    """The validation ROC curve with the chance diagonal; square, 0..1 on both axes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setTitle("ROC curve (validation)", color=AXIS_COLOUR, size="11pt")
        self.showGrid(x=True, y=True, alpha=0.25)
        for side in ("left", "bottom"):
            axis = self.getAxis(side)
            axis.setPen(pg.mkPen(AXIS_COLOUR))
            axis.setTextPen(pg.mkPen(AXIS_COLOUR))
        self.setLabel("bottom", "false positive rate (authentic flagged)", color=AXIS_COLOUR)
        self.setLabel("left", "true positive rate", color=AXIS_COLOUR)
        self.setXRange(0.0, 1.0, padding=0.02)
        self.setYRange(0.0, 1.0, padding=0.02)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setMenuEnabled(False)
        self.plot([0, 1], [0, 1], pen=pg.mkPen("#999999", width=1, style=Qt.PenStyle.DashLine))
        self.curve = self.plot(pen=pg.mkPen(VAL_COLOUR, width=2), stepMode=None)
        self.setMinimumSize(240, 220)

    def set_curve(self, fpr: Sequence[float], tpr: Sequence[float]) -> None:
        self.curve.setData(list(fpr), list(tpr))


class ConfusionMatrixView(QWidget):
    """A 2 x 2 confusion matrix as a picture: rows are the true class, columns the prediction.

    Each cell is shaded by the share of its row (so a class's recall reads as colour whatever the
    class sizes), and shows its count and that share.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.matrix: list[list[int]] = [[0, 0], [0, 0]]
        self.class_names: tuple[str, str] = ("authentic", "tampered")
        self.setFixedSize(QSize(380, 270))

    def set_matrix(self, matrix: Sequence[Sequence[int]], class_names=("authentic", "tampered")):
        self.matrix = [[int(v) for v in row] for row in matrix]
        self.class_names = tuple(class_names)
        self.update()

    def row_shares(self) -> list[list[float]]:
        shares = []
        for row in self.matrix:
            total = sum(row)
            shares.append([v / total if total else 0.0 for v in row])
        return shares

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text_colour = self.palette().windowText().color()
        label_width, header_height, title_height = 90, 24, 22
        grid = QRectF(
            label_width,
            title_height + header_height,
            self.width() - label_width - 8,
            self.height() - title_height - header_height - 8,
        )
        side = min(grid.width(), grid.height())  # square cells
        grid.setWidth(side)
        grid.setHeight(side)
        cell_w, cell_h = grid.width() / 2, grid.height() / 2
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setPen(text_colour)
        painter.setFont(bold)
        painter.drawText(
            QRectF(grid.left(), 0, grid.width(), title_height),
            Qt.AlignmentFlag.AlignCenter,
            "predicted",
        )
        painter.setFont(self.font())
        for col, name in enumerate(self.class_names):
            painter.drawText(
                QRectF(grid.left() + col * cell_w, title_height, cell_w, header_height),
                Qt.AlignmentFlag.AlignCenter,
                name,
            )
        shares = self.row_shares()
        for row in range(2):
            painter.setPen(text_colour)
            painter.drawText(
                QRectF(0, grid.top() + row * cell_h, label_width - 8, cell_h),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"true\n{self.class_names[row]}",
            )
            for col in range(2):
                cell = QRectF(grid.left() + col * cell_w, grid.top() + row * cell_h, cell_w, cell_h)
                share = shares[row][col]
                correct = row == col
                base = QColor(46, 139, 87) if correct else QColor(200, 60, 50)
                fill = QColor(base)
                fill.setAlphaF(0.08 + 0.8 * share)
                painter.fillRect(cell, fill)
                painter.setPen(QPen(QColor("#808080"), 1))
                painter.drawRect(cell)
                painter.setPen(QColor("white") if share > 0.55 else text_colour)
                painter.setFont(bold)
                painter.drawText(
                    cell.adjusted(0, 0, 0, -cell_h * 0.2),
                    Qt.AlignmentFlag.AlignCenter,
                    str(self.matrix[row][col]),
                )
                painter.setFont(self.font())
                painter.drawText(
                    cell.adjusted(0, cell_h * 0.35, 0, 0),
                    Qt.AlignmentFlag.AlignCenter,
                    f"{share:.0%} of row",
                )
        painter.end()

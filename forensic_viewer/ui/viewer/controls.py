"""The ELA control panel: quality (slider + spin box), brightness, grayscale, view layout.

Quality changes are debounced while the slider is dragged (the window keeps up with the hand, not
with every pixel of travel) and sent at once when the slider is released or a value is typed.
Brightness and grayscale changes are sent at once: they only re-render the cached difference.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QRadioButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..viewer.document import ElaSettings

DRAG_DEBOUNCE_MS = 80
"""While dragging, one ELA per this many ms at most (about 60 ms of work for 12 MP)..."""
DRAG_RETRY_MS = 20
"""...and never while the previous one is still computing: its result would arrive stale."""
TYPING_DEBOUNCE_MS = 250


class ElaControls(QWidget):
    settingsChanged = Signal(object)  # ElaSettings
    layoutChanged = Signal(str)  # "side" | "single" | "blend"
    opacityChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.timeout.connect(self._on_debounce)
        self._last_emitted: ElaSettings | None = None
        self._busy_probe: Callable[[], bool] = lambda: False

        self.quality_slider = QSlider(Qt.Orientation.Horizontal)
        self.quality_slider.setRange(1, 100)
        self.quality_slider.setPageStep(5)
        self.quality_slider.setToolTip(
            "JPEG quality used for the re-save that ELA compares against.\n"
            "90 is the classic value; a quality close to the file's own shows edits best."
        )
        self.quality_spin = QSpinBox()
        self.quality_spin.setRange(1, 100)
        self.quality_spin.setToolTip(self.quality_slider.toolTip())
        self.quality_spin.setKeyboardTracking(False)
        quality_row = QHBoxLayout()
        quality_row.addWidget(self.quality_slider, 1)
        quality_row.addWidget(self.quality_spin)

        self.auto_brightness = QCheckBox("Auto")
        self.auto_brightness.setToolTip("Choose the brightness from the image's differences")
        self.auto_scale = QComboBox()
        self.auto_scale.addItem("99.5th percentile", "percentile")
        self.auto_scale.addItem("Classic (largest)", "classic")
        self.auto_scale.setToolTip(
            "99.5th percentile: the brightest 0.5% of the differences become white, so a few\n"
            "outlier pixels cannot leave a camera photo nearly black.\n"
            "Classic: the largest difference becomes white (the published recipe, exact)."
        )
        brightness_row = QHBoxLayout()
        brightness_row.addWidget(self.auto_brightness)
        brightness_row.addWidget(self.auto_scale, 1)
        self.gain = QDoubleSpinBox()
        self.gain.setRange(1.0, 255.0)
        self.gain.setDecimals(1)
        self.gain.setSingleStep(1.0)
        self.gain.setPrefix("x ")
        self.gain.setToolTip("Manual brightness: each difference is multiplied by this factor")
        self.grayscale = QCheckBox("Grayscale (largest channel difference)")
        self.grayscale.setToolTip("Show the largest of the three channel differences in gray")

        ela_box = QGroupBox("Error Level Analysis")
        form = QFormLayout(ela_box)
        form.addRow("JPEG quality", quality_row)
        form.addRow("Brightness", brightness_row)
        form.addRow("Manual gain", self.gain)
        form.addRow("", self.grayscale)

        self.layout_buttons = QButtonGroup(self)
        layout_box = QGroupBox("View")
        layout_column = QVBoxLayout(layout_box)
        for mode, text, tip in (
            ("side", "Side by side", "Original and ELA next to each other (F6 cycles the views)"),
            ("single", "Single view", "One view; Space flips between original and ELA"),
            ("blend", "Blend ELA over original", "ELA drawn over the original with an opacity"),
        ):
            button = QRadioButton(text)
            button.setToolTip(tip)
            button.setProperty("mode", mode)
            self.layout_buttons.addButton(button)
            layout_column.addWidget(button)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("Opacity of the ELA over the original in the blend view")
        layout_column.addWidget(self.opacity)

        column = QVBoxLayout(self)
        column.addWidget(ela_box)
        column.addWidget(layout_box)
        column.addStretch(1)

        self.set_settings(ElaSettings())
        self.set_layout_mode("side")
        self.set_opacity(0.5)

        self.quality_slider.valueChanged.connect(self._on_slider_value)
        self.quality_slider.sliderReleased.connect(self._emit_now)
        self.quality_spin.valueChanged.connect(self._on_spin_value)
        self.auto_brightness.toggled.connect(self._on_brightness_mode)
        self.gain.valueChanged.connect(lambda _v: self._emit_now())
        self.auto_scale.currentIndexChanged.connect(lambda _i: self._emit_now())
        self.grayscale.toggled.connect(lambda _v: self._emit_now())
        self.layout_buttons.buttonToggled.connect(self._on_layout_button)
        self.opacity.valueChanged.connect(self._on_opacity)

    # ---- state -------------------------------------------------------------------------------
    def settings(self) -> ElaSettings:
        return ElaSettings(
            quality=self.quality_spin.value(),
            auto_brightness=self.auto_brightness.isChecked(),
            gain=round(self.gain.value(), 1),
            grayscale=self.grayscale.isChecked(),
            auto_scale=self.auto_scale.currentData(),
        )

    def set_settings(self, settings: ElaSettings) -> None:
        """Show ``settings`` without emitting anything (the caller already knows them)."""
        widgets = (
            self.quality_slider,
            self.quality_spin,
            self.auto_brightness,
            self.gain,
            self.auto_scale,
        )
        for widget in (*widgets, self.grayscale):
            widget.blockSignals(True)
        self.quality_slider.setValue(settings.quality)
        self.quality_spin.setValue(settings.quality)
        self.auto_brightness.setChecked(settings.auto_brightness)
        self.gain.setValue(settings.gain)
        self.gain.setEnabled(not settings.auto_brightness)
        self.auto_scale.setCurrentIndex(max(self.auto_scale.findData(settings.auto_scale), 0))
        self.auto_scale.setEnabled(settings.auto_brightness)
        self.grayscale.setChecked(settings.grayscale)
        for widget in (*widgets, self.grayscale):
            widget.blockSignals(False)
        self._last_emitted = settings

    def layout_mode(self) -> str:
        button = self.layout_buttons.checkedButton()
        return button.property("mode") if button else "side"

    def set_layout_mode(self, mode: str) -> None:
        for button in self.layout_buttons.buttons():
            if button.property("mode") == mode:
                button.blockSignals(True)
                button.setChecked(True)
                button.blockSignals(False)
        self.opacity.setEnabled(mode == "blend")

    def set_opacity(self, opacity: float) -> None:
        self.opacity.blockSignals(True)
        self.opacity.setValue(round(opacity * 100))
        self.opacity.blockSignals(False)

    def set_busy_probe(self, probe: Callable[[], bool]) -> None:
        """``probe()`` is True while an ELA is computing; a drag then waits for it to finish."""
        self._busy_probe = probe

    def is_settling(self) -> bool:
        """True while a debounced change is waiting to be sent."""
        return self._debounce.isActive()

    # ---- reactions ---------------------------------------------------------------------------
    def _on_slider_value(self, value: int) -> None:
        self.quality_spin.blockSignals(True)
        self.quality_spin.setValue(value)
        self.quality_spin.blockSignals(False)
        if self.quality_slider.isSliderDown():
            if not self._debounce.isActive():
                self._debounce.start(DRAG_DEBOUNCE_MS)
        else:  # keyboard, wheel or a click on the groove: one step, send it at once
            self._emit_now()

    def _on_spin_value(self, value: int) -> None:
        self.quality_slider.blockSignals(True)
        self.quality_slider.setValue(value)
        self.quality_slider.blockSignals(False)
        self._debounce.start(TYPING_DEBOUNCE_MS)

    def _on_brightness_mode(self, auto: bool) -> None:
        self.gain.setEnabled(not auto)
        self.auto_scale.setEnabled(auto)
        self._emit_now()

    def _on_layout_button(self, button, checked: bool) -> None:
        if checked:
            mode = button.property("mode")
            self.opacity.setEnabled(mode == "blend")
            self.layoutChanged.emit(mode)

    def _on_opacity(self, value: int) -> None:
        self.opacityChanged.emit(value / 100.0)

    def _on_debounce(self) -> None:
        if self.quality_slider.isSliderDown() and self._busy_probe():
            self._debounce.start(DRAG_RETRY_MS)
            return
        self._emit_settings()

    def _emit_now(self) -> None:
        self._debounce.stop()
        self._emit_settings()

    def _emit_settings(self) -> None:
        settings = self.settings()
        if settings != self._last_emitted:
            self._last_emitted = settings
            self.settingsChanged.emit(settings)

"""A form built from an analysis's ``Param``s: spin boxes, combos and check boxes with tooltips."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QSpinBox,
    QWidget,
)

from forensic_viewer.core.analyses import Param

INT_LIMIT = 2**31 - 1  # QSpinBox holds a C int


class ParamForm(QWidget):
    """One control per parameter; ``changed`` fires with all values after any edit."""

    changed = Signal(dict)

    def __init__(self, params: tuple[Param, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.params = params
        self.controls: dict[str, QWidget] = {}
        self._quiet = False
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for param in params:
            control = self._control(param)
            control.setToolTip(param.help or param.label)
            control.setObjectName(f"param_{param.name}")
            self.controls[param.name] = control
            if isinstance(control, QCheckBox):
                layout.addRow(control)
            else:
                layout.addRow(param.label, control)

    def _control(self, param: Param) -> QWidget:
        if param.kind == "bool":
            box = QCheckBox(param.label)
            box.setChecked(bool(param.default))
            box.toggled.connect(self._emit)
            return box
        if param.kind == "choice":
            combo = QComboBox()
            combo.addItems(list(param.choices))
            combo.setCurrentText(str(param.default))
            combo.currentTextChanged.connect(self._emit)
            return combo
        if param.kind == "int":
            spin = QSpinBox()
            spin.setRange(
                int(param.minimum) if param.minimum is not None else -INT_LIMIT,
                int(param.maximum) if param.maximum is not None else INT_LIMIT,
            )
            spin.setValue(int(param.default))
            spin.valueChanged.connect(self._emit)
            return spin
        spin = QDoubleSpinBox()
        span = (param.maximum or 1.0) - (param.minimum or 0.0)
        spin.setDecimals(3 if span <= 10 else 2)
        spin.setSingleStep(0.01 if span <= 1 else 0.1 if span <= 10 else 1.0)
        spin.setRange(
            param.minimum if param.minimum is not None else -1e12,
            param.maximum if param.maximum is not None else 1e12,
        )
        spin.setValue(float(param.default))
        spin.valueChanged.connect(self._emit)
        return spin

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for param in self.params:
            control = self.controls[param.name]
            if isinstance(control, QCheckBox):
                out[param.name] = control.isChecked()
            elif isinstance(control, QComboBox):
                out[param.name] = control.currentText()
            else:
                out[param.name] = control.value()
        return out

    def set_values(self, values: dict[str, Any]) -> None:
        """Show ``values`` without emitting ``changed`` (restoring remembered settings)."""
        self._quiet = True
        try:
            for name, value in values.items():
                control = self.controls.get(name)
                if isinstance(control, QCheckBox):
                    control.setChecked(bool(value))
                elif isinstance(control, QComboBox):
                    control.setCurrentText(str(value))
                elif control is not None:
                    control.setValue(value)
        finally:
            self._quiet = False

    def _emit(self, *_args) -> None:
        if not self._quiet:
            self.changed.emit(self.values())

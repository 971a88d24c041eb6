"""Wizard page 2: the recipe and the hyper-parameters, defaulting to the best recipe we have.

The page hands the trainer a plain dict of ``ml.train.TrainConfig`` keyword arguments, so the GUI
thread never imports ``ml.train`` (and with it torch); the training worker builds the config.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWizardPage,
)

CLASSIC_DEFAULTS = {
    "recipe": "classic",
    "epochs": 30,
    "batch_size": 32,
    "lr": 1e-4,
    "patience": 2,
    "monitor": "val_acc",
    "val_fraction": 0.2,
    "seed": 0,
    "bf16": "auto",
    "balance_classes": False,
}
"""The Keras notebook's recipe (mirrors ml.train.TrainConfig's defaults; a test checks that)."""

RECIPE_TEXT = {
    "classic": "The original notebook: ELA at quality 90 with auto brightness, the whole image "
    "resized to 128 x 128. Fast, but resizing blurs the 8 x 8 JPEG block artefacts ELA is about.",
    "tiles": "The same ELA at native resolution, cut into 128 x 128 tiles on the JPEG block grid; "
    "tile scores are aggregated per image (and give a heatmap). Slower, keeps block artefacts.",
    "ghost": "Native-resolution tiles whose three channels are ELA at qualities 70, 80 and 90 "
    "with a fixed gain (the 'JPEG ghost' idea). The shipped default model's recipe.",
    "localiser": "A map of every 8 x 8 block from the JPEG's own DCT coefficients, trained on "
    "the folder's masks and on pairs generated from a folder of untouched photos (below). "
    "JPEG only; its plots add the pixel AUC; it keeps the best epoch (no early stopping).",
}
RECIPE_NAMES = {
    "ghost": "JPEG ghost tiles (recommended)",
    "tiles": "ELA tiles at full resolution",
    "classic": "Classic ELA, whole image resized",
    "localiser": "JPEG block localiser (DCT, with masks)",
}
"""What the recipe list shows; the keys (CLI --recipe names) stay in the tooltip and hint."""
RECOMMENDED_DEFAULTS = {
    **CLASSIC_DEFAULTS,
    "recipe": "ghost",
    "epochs": 10,
    "monitor": "val_auc",
    "tiles_per_image": 4,
}
"""The shipped default model's settings (docs/model-card.md): the best recipe measured on CASIA
(validation ROC AUC 0.999 against 0.78 for the classic recipe, which flags 36% of authentic
photos)."""
FIXED_KEYS = ("tiles_per_image",)
"""Settings the page passes on without a field of its own."""

MONITOR_TEXT = {
    "val_acc": "validation accuracy",
    "val_loss": "validation loss",
    "val_auc": "validation ROC AUC",
}
BF16_TEXT = {
    "auto": "auto (bfloat16 where the CPU supports it natively)",
    "on": "on (bfloat16 autocast)",
    "off": "off (float32 throughout)",
}


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #5f6368;")
    return label


class SettingsPage(QWizardPage):
    """Page 2: what to train and how; every field has a tooltip and a one-line explanation."""

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Recipe and training settings")
        self.setSubTitle(
            "The defaults are those of the shipped model: the JPEG ghost recipe, Adam at 1e-4, "
            "batch 32, up to 10 epochs, early stopping on validation AUC after 2 epochs without "
            "improvement. Change them only if you know why."
        )
        self.recipe = QComboBox()
        ordered = [key for key in RECIPE_NAMES if key in RECIPE_TEXT]
        for name in ordered + [key for key in RECIPE_TEXT if key not in ordered]:
            self.recipe.addItem(RECIPE_NAMES.get(name, name), name)
            self.recipe.setItemData(
                self.recipe.count() - 1, f"--recipe {name}", Qt.ItemDataRole.ToolTipRole
            )
        self.recipe.setToolTip("How images become network inputs")
        self._fixed: dict = {}
        self.recipe_hint = _hint("")
        self.epochs = self._spin(1, 1000, "Most epochs to train (passes over the training images)")
        self.batch_size = self._spin(1, 1024, "Images per optimisation step")
        self.lr = QLineEdit()
        validator = QDoubleValidator(1e-7, 1.0, 10, self.lr)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.lr.setValidator(validator)
        self.lr.setToolTip("Adam's step size, e.g. 1e-4 (with Keras-style decay per batch)")
        self.lr.textChanged.connect(self.completeChanged)
        self.patience = self._spin(0, 100, "Epochs without improvement before stopping; 0 = never")
        self.monitor = QComboBox()
        for key, text in MONITOR_TEXT.items():
            self.monitor.addItem(text, key)
        self.monitor.setToolTip("What early stopping and the choice of the best epoch follow")
        self.val_percent = self._spin(5, 50, "Share of the images held out to validate on")
        self.val_percent.setSuffix(" %")
        self.seed = self._spin(0, 2**31 - 1, "Seeds the split, the shuffling and the weights")
        self.bf16 = QComboBox()
        for key, text in BF16_TEXT.items():
            self.bf16.addItem(text, key)
        self.bf16.setToolTip("Mixed precision for training steps; validation is always float32")
        self.balance = QCheckBox("Weight the loss by class frequency")
        self.balance.setToolTip("Helps when one class has far more images than the other")
        self.photos = QLineEdit()
        self.photos.setPlaceholderText("optional: folder of untouched camera photos")
        self.photos.setToolTip(
            "Localiser recipe: tampered/authentic pairs are generated from these photos (split "
            "into training and validation by photo) and mixed with the labelled folder"
        )
        reset = QPushButton("Recommended defaults")
        reset.setToolTip("Put every field back to the shipped model's settings")
        reset.clicked.connect(self.restore_defaults)
        classic = QPushButton("Classic recipe")
        classic.setToolTip("The Keras notebook's recipe and settings, for comparison")
        classic.clicked.connect(lambda: self.apply(CLASSIC_DEFAULTS))

        # Three columns: name, field (kept narrow), a one-line explanation beside it.
        form = QGridLayout()
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(10)
        form.addWidget(QLabel("Recipe"), 0, 0)
        form.addWidget(self.recipe, 0, 1)
        form.addWidget(self.recipe_hint, 0, 2)
        rows = [
            ("Epochs", self.epochs, "At most; early stopping usually ends sooner."),
            ("Batch size", self.batch_size, "Larger batches are faster per image, need more RAM."),
            ("Learning rate", self.lr, "Too high and training diverges; too low and it crawls."),
            (
                "Patience",
                self.patience,
                "Stop after this many epochs without improvement (0: never).",
            ),
            (
                "Improvement in",
                self.monitor,
                "Early stopping and the best epoch (whose weights are kept) follow this.",
            ),
            ("Validation", self.val_percent, "Held out by source photo when groups are known."),
            ("Random seed", self.seed, "The same seed and data give the same model on a CPU."),
            ("bfloat16", self.bf16, "Faster on CPUs with native bfloat16 (AVX-512 BF16, AMX)."),
            ("Class balance", self.balance, "Helps when one class has far more images."),
            ("Untouched photos", self.photos, "Localiser: a source of generated pairs."),
        ]
        for row, (title, widget, hint) in enumerate(rows, start=1):
            form.addWidget(QLabel(title), row, 0)
            form.addWidget(widget, row, 1)
            form.addWidget(_hint(hint), row, 2)
        form.setColumnMinimumWidth(1, 300)
        form.setColumnStretch(2, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(classic)
        buttons.addWidget(reset)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self.recipe.currentIndexChanged.connect(self._recipe_changed)
        self.restore_defaults()

    @staticmethod
    def _spin(low: int, high: int, tooltip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setToolTip(tooltip)
        return spin

    def _recipe_changed(self) -> None:
        key = self.recipe.currentData()
        self.recipe_hint.setText(f"{RECIPE_TEXT[key]} (--recipe {key})")
        localiser = key == "localiser"
        self.photos.setEnabled(localiser)
        # The localiser trains with AdamW at 2e-3 (a cosine schedule); the classic 1e-4 would
        # barely move it. Only the untouched default is switched, never a value the user typed.
        if localiser and self.learning_rate() == CLASSIC_DEFAULTS["lr"]:
            self.lr.setText("0.002")
        elif not localiser and self.learning_rate() == 0.002:
            self.lr.setText(f"{CLASSIC_DEFAULTS['lr']:g}")

    def restore_defaults(self) -> None:
        self.apply(RECOMMENDED_DEFAULTS)

    def apply(self, settings: dict) -> None:
        """Show ``settings`` (TrainConfig keyword names); missing keys keep their field."""
        if "recipe" in settings:
            self.recipe.setCurrentIndex(self.recipe.findData(settings["recipe"]))
        if "monitor" in settings:
            self.monitor.setCurrentIndex(self.monitor.findData(settings["monitor"]))
        if "bf16" in settings:
            self.bf16.setCurrentIndex(self.bf16.findData(settings["bf16"]))
        for key, spin in (
            ("epochs", self.epochs),
            ("batch_size", self.batch_size),
            ("patience", self.patience),
            ("seed", self.seed),
        ):
            if key in settings:
                spin.setValue(int(settings[key]))
        if "lr" in settings:
            self.lr.setText(f"{settings['lr']:g}")
        if "val_fraction" in settings:
            self.val_percent.setValue(round(settings["val_fraction"] * 100))
        if "balance_classes" in settings:
            self.balance.setChecked(bool(settings["balance_classes"]))
        self._fixed = {key: settings[key] for key in FIXED_KEYS if key in settings}
        self._recipe_changed()

    def learning_rate(self) -> float | None:
        try:
            value = float(self.lr.text())
        except ValueError:
            return None
        return value if 0.0 < value <= 1.0 else None

    def isComplete(self) -> bool:  # noqa: N802 - Qt's name
        return self.learning_rate() is not None

    def settings(self) -> dict:
        """TrainConfig keyword arguments for the current fields."""
        return {
            "recipe": self.recipe.currentData(),
            "epochs": self.epochs.value(),
            "batch_size": self.batch_size.value(),
            "lr": self.learning_rate() or CLASSIC_DEFAULTS["lr"],
            "patience": self.patience.value(),
            "monitor": self.monitor.currentData(),
            "val_fraction": self.val_percent.value() / 100.0,
            "seed": self.seed.value(),
            "bf16": self.bf16.currentData(),
            "balance_classes": self.balance.isChecked(),
            **(
                {"synthetic": self.photos.text().strip() or None}
                if self.recipe.currentData() == "localiser"
                else {}
            ),
            **self._fixed,
        }

"""The trainer on a tiny generated dataset: events, early stopping, cancel, dry run, seeds."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from forensic_viewer.ml import data, scoring
from forensic_viewer.ml import train as t
from forensic_viewer.ml.model import ElaCnn
from forensic_viewer.ml.modelfile import load_model
from forensic_viewer.ml.preprocess import Recipe

# A 32 x 32 input keeps the dense layer at 1.2 M instead of 29.5 M weights: the trainer's logic is
# the same, the tests run in seconds. test_cli_train covers the full-size classic recipe.
SMALL = Recipe(name="small", size=32)
SMALL_TILES = Recipe(name="small-tiles", mode="tiles", size=32, tile_stride=16)


def make_dataset(root: Path, per_class: int = 10, size=(64, 48), masks: bool = False) -> Path:
    """Authentic: one JPEG save. Tampered: a patch from a low-quality JPEG pasted, then saved."""
    rng = np.random.default_rng(0)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]

    def photo(seed: int) -> np.ndarray:
        base = 128 + 60 * np.sin(xx / (4 + seed % 5)) * np.cos(yy / (3 + seed % 3))
        noisy = base[..., None] + rng.normal(0, 6, (height, width, 3))
        return np.clip(noisy, 0, 255).astype(np.uint8)

    for i in range(per_class):
        path = root / "authentic" / f"a{i:02d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo(i)).save(path, quality=92)
        buffer = io.BytesIO()
        Image.fromarray(photo(i + 50)).save(buffer, "JPEG", quality=40)
        donor = np.asarray(Image.open(buffer))
        image = photo(i + 100)
        y0, x0 = 8 + i % 8, 16 + i % 12
        image[y0 : y0 + 24, x0 : x0 + 24] = donor[:24, :24]
        path = root / "tampered" / f"t{i:02d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path, quality=92)
        if masks:
            mask = np.zeros((height, width), np.uint8)
            mask[y0 : y0 + 24, x0 : x0 + 24] = 255
            (root / "masks").mkdir(exist_ok=True)
            Image.fromarray(mask).save(root / "masks" / f"t{i:02d}.png")
    return root


@pytest.fixture
def dataset(tmp_path) -> data.Dataset:
    return data.scan_dataset(make_dataset(tmp_path / "set"))


def _drain(generator):
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value


def _config(**changes) -> t.TrainConfig:
    base = {"recipe": SMALL, "epochs": 3, "batch_size": 8, "patience": 1, "seed": 3}
    return t.TrainConfig(**{**base, **changes})


def test_events_order_and_early_stopping_really_fires(dataset):
    events = list(t.train(_config(lr=0.0, epochs=5), dataset))
    kinds = [type(e).__name__ for e in events]
    collapsed = [k for i, k in enumerate(kinds) if i == 0 or k != kinds[i - 1]]
    assert collapsed == [
        "Prepared", "CachingProgress", "BatchProgress", "ValidationProgress", "EpochEnd",
        "BatchProgress", "ValidationProgress", "EpochEnd", "EarlyStop", "Finished",
    ]  # fmt: skip
    prepared = events[0]
    assert prepared.train_counts["authentic"] + prepared.val_counts["authentic"] == 10
    assert prepared.split_method == "random by file (no groups known)"
    batches = [e for e in events if isinstance(e, t.BatchProgress)]
    assert [(b.epoch, b.batch, b.batches) for b in batches] == [(1, 1, 2), (1, 2, 2)] + [
        (2, 1, 2),
        (2, 2, 2),
    ]
    epochs = [e for e in events if isinstance(e, t.EpochEnd)]
    assert epochs[0].val_acc == epochs[1].val_acc  # lr 0: the weights never move
    assert events[-2] == t.EarlyStop(epoch=2, best_epoch=1)
    finished = events[-1]
    assert finished.best_epoch == 1 and not finished.cancelled
    assert finished.metrics["epochs_run"] == 2
    torch.manual_seed(3)
    fresh = ElaCnn(32).state_dict()
    for key, value in finished.model.state_dict().items():
        assert torch.equal(value, fresh[key]), key


def test_patience_zero_never_stops_early(dataset):
    events = list(t.train(_config(lr=0.0, epochs=2, patience=0, batch_size=16), dataset))
    assert not any(isinstance(e, t.EarlyStop) for e in events)
    assert [e.epoch for e in events if isinstance(e, t.EpochEnd)] == [1, 2]


def test_cancel_between_batches_saves_nothing(dataset, tmp_path):
    out = tmp_path / "model"
    seen = []

    def cancel() -> bool:
        return any(isinstance(e, t.BatchProgress) for e in seen)

    for event in t.train(_config(out=str(out)), dataset, cancel):
        seen.append(event)
    assert sum(isinstance(e, t.BatchProgress) for e in seen) == 1
    finished = seen[-1]
    assert isinstance(finished, t.Finished) and finished.cancelled
    assert finished.model is None and finished.best_epoch == 0
    assert not out.with_suffix(".safetensors").exists()


def test_cancel_after_an_epoch_keeps_best_in_memory_and_checkpoints(dataset, tmp_path):
    out = tmp_path / "existing.safetensors"
    out.write_bytes(b"the user's active model")
    checkpoints = tmp_path / "ckpt"
    seen = []
    config = _config(out=str(out), checkpoint_dir=str(checkpoints), batch_size=16)
    for event in t.train(config, dataset, lambda: any(isinstance(e, t.EpochEnd) for e in seen)):
        seen.append(event)
    finished = seen[-1]
    assert finished.cancelled and finished.best_epoch == 1 and finished.model is not None
    assert finished.saved_path is None
    assert out.read_bytes() == b"the user's active model"
    state = torch.load(checkpoints / "last.pt", weights_only=True)
    assert state["epoch"] == 1 and state["best_epoch"] == 1
    assert set(state) >= {"model", "optimizer", "scheduler", "best_value", "config"}
    saved = t.save_trained(finished, tmp_path / "kept")
    assert load_model(saved).card.notes.startswith("cancelled")


def test_trained_model_card_and_evaluate_agree(dataset, tmp_path):
    out = tmp_path / "models" / "small"
    events = list(t.train(_config(epochs=1, out=str(out), batch_size=16), dataset))
    finished = events[-1]
    assert finished.saved_path == out.with_suffix(".safetensors")
    loaded = load_model(finished.saved_path)
    card = loaded.card
    assert card.name == "small" and Recipe.from_dict(card.recipe) == SMALL
    assert card.threshold == finished.metrics["threshold"]
    assert card.training["split"]["method"] == "random by file (no groups known)"
    assert card.training["dataset"]["counts"] == {"authentic": 10, "tampered": 10}
    assert card.reproduce.startswith("forensic-viewer train ")
    assert "--epochs 1" in card.reproduce and "--seed 3" in card.reproduce
    report = card.metrics["validation"]
    val = data.split_dataset(dataset, 0.2, 3).val
    assert report["count"] == len(val)
    evaluated = scoring.evaluate(loaded, val)
    assert evaluated["confusion_matrix"] == report["confusion_matrix"]
    assert evaluated["roc_auc"] == pytest.approx(report["roc_auc"], abs=1e-6)


def test_dry_run_trains_one_tiny_batch(dataset):
    events = list(t.train(t.TrainConfig(recipe=SMALL, dry_run=True, seed=1), dataset))
    batches = [e for e in events if isinstance(e, t.BatchProgress)]
    assert len(batches) == 1 and batches[0].batches == 1
    assert sum(isinstance(e, t.EpochEnd) for e in events) == 1
    caching = [e for e in events if isinstance(e, data.CachingProgress)]
    assert caching[-1].total == 8  # only the few images the dry run uses
    assert events[-1].card.notes.startswith("dry run")


def test_seeded_runs_are_reproducible(dataset):
    def run(seed):
        events = list(
            t.train(t.TrainConfig(recipe=SMALL, dry_run=True, seed=seed, batch_size=4), dataset)
        )
        loss = [e.loss for e in events if isinstance(e, t.BatchProgress)]
        return loss, events[-1].model.state_dict()

    loss_a, state_a = run(5)
    loss_b, state_b = run(5)
    loss_c, _ = run(6)
    assert loss_a == loss_b
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert loss_a != loss_c


def test_tiles_recipe_uses_masks_and_scores_whole_images(tmp_path):
    dataset = data.scan_dataset(make_dataset(tmp_path / "set", masks=True))
    assert sum(s.mask is not None for s in dataset.samples) == 10
    config = _config(recipe=SMALL_TILES, epochs=1, tiles_per_image=4, batch_size=16)
    finished = list(t.train(config, dataset))[-1]
    val = data.split_dataset(dataset, 0.2, 3).val
    assert finished.metrics["validation"]["count"] == len(val)  # image level, not tile level
    assert finished.card.recipe["mode"] == "tiles"
    # Scoring keeps each image's tiles together: 64 x 48 with 32-px tiles, stride 16 -> 3 x 2.
    cached = _drain(data.cache_inputs(val, SMALL_TILES))
    scores = scoring.score_logits_iter(finished.model, cached, SMALL_TILES, torch.device("cpu"), 5)
    logits = _drain(scores)
    assert [z.shape for z in logits] == [(6, 2)] * len(val)
    assert finished.metrics["train_images_per_s"] > 0
    assert finished.history[0]["epoch"] == 1


def test_bad_inputs_are_refused(dataset, tmp_path):
    with pytest.raises(ValueError, match="unknown recipe"):
        list(t.train(t.TrainConfig(recipe="nope"), dataset))
    only_authentic = data.Dataset(tmp_path, [s for s in dataset.samples if s.label == 0])
    with pytest.raises(ValueError, match="both classes"):
        list(t.train(t.TrainConfig(recipe=SMALL), only_authentic))


def test_keras_decay_and_class_weights():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=1e-4)
    schedule = t.keras_decay_schedule(optimizer, 0.5)
    for _ in range(3):
        optimizer.step()
        schedule.step()
    assert schedule.get_last_lr()[0] == pytest.approx(1e-4 / (1 + 0.5 * 3))
    weights = t._class_weights(np.array([0, 0, 0, 1]), torch.device("cpu"))
    assert weights.tolist() == pytest.approx([4 / 6, 4 / 2])


def test_undefined_auc_still_keeps_the_first_epoch(dataset):
    # All tampered images share one source photo: the split cannot put any into validation.
    samples = [
        data.Sample(s.path, s.label, "T" if s.label == data.TAMPERED else s.group)
        for s in dataset.samples
    ]
    one_sided = data.Dataset(dataset.root, samples, group_source="manifest")
    assert {s.label for s in data.split_dataset(one_sided, 0.2, 3).val} == {data.AUTHENTIC}
    events = list(t.train(_config(epochs=1, monitor="val_auc", batch_size=16), one_sided))
    epoch = next(e for e in events if isinstance(e, t.EpochEnd))
    assert np.isnan(epoch.val_auc)
    assert events[-1].best_epoch == 1 and events[-1].model is not None


def test_monitor_val_loss_picks_the_lowest_loss_epoch(dataset):
    config = _config(epochs=3, patience=0, monitor="val_loss", batch_size=16)
    events = list(t.train(config, dataset))
    losses = [e.val_loss for e in events if isinstance(e, t.EpochEnd)]
    assert len(losses) == 3
    assert events[-1].best_epoch == 1 + int(np.argmin(losses))
    with pytest.raises(ValueError, match="unknown monitor"):
        list(t.train(_config(monitor="val_f1"), dataset))


def test_the_best_epochs_weights_are_restored_not_the_last(dataset, monkeypatch):
    monkeypatch.setitem(t.MONITORS, "earliest", lambda epoch: -epoch.epoch)
    monkeypatch.setitem(t.MONITORS, "latest", lambda epoch: epoch.epoch)
    runs = {
        name: _drain_finished(t.train(_config(lr=1e-3, epochs=epochs, patience=0, monitor=name,
                                              bf16="off"), dataset))
        for name, epochs in (("earliest", 3), ("latest", 3), ("val_acc", 1))
    }  # fmt: skip
    assert [runs[n].best_epoch for n in ("earliest", "latest", "val_acc")] == [1, 3, 1]
    assert runs["earliest"].metrics["epochs_run"] == 3
    restored = runs["earliest"].model.state_dict()
    after_one_epoch = runs["val_acc"].model.state_dict()
    after_three = runs["latest"].model.state_dict()
    for key, value in restored.items():
        assert torch.equal(value, after_one_epoch[key]), key
    assert not all(torch.equal(restored[k], after_three[k]) for k in restored)


def _drain_finished(events) -> t.Finished:
    finished = [e for e in events if isinstance(e, t.Finished)]
    assert len(finished) == 1
    return finished[0]

"""``forensic-viewer train`` / ``evaluate`` end to end on a tiny generated dataset."""

from __future__ import annotations

import json

import pytest
from test_train import SMALL, make_dataset

from forensic_viewer.cli import main
from forensic_viewer.ml import data, scoring
from forensic_viewer.ml import train as t
from forensic_viewer.ml.modelfile import load_model


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A dataset and a model trained on it with the small recipe (fast)."""
    root = make_dataset(tmp_path_factory.mktemp("cli") / "set")
    out = root.parent / "small.safetensors"
    config = t.TrainConfig(recipe=SMALL, epochs=1, batch_size=16, seed=2, out=str(out))
    finished = list(t.train(config, data.scan_dataset(root)))[-1]
    return root, finished.saved_path


def test_train_dry_run_with_the_classic_recipe(tmp_path, capsys):
    root = make_dataset(tmp_path / "set")
    out = tmp_path / "models" / "tiny"
    code = main(["train", str(root), "--out", str(out), "--dry-run", "--seed", "4"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "10 authentic, 10 tampered, 0 skipped" in captured.out
    assert "epoch   1: train loss" in captured.out
    assert f"saved {out}.safetensors" in captured.out
    loaded = load_model(out)
    assert loaded.card.recipe["name"] == "classic" and loaded.card.notes.startswith("dry run")
    # A second run refuses to replace the model without --force.
    assert main(["train", str(root), "--out", str(out), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"forensic-viewer: error: {out}.safetensors exists (use --force to replace it)"]


def test_train_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing"), "--out", str(tmp_path / "m")]) == 2
    assert capsys.readouterr().err.strip().endswith("missing: no such folder")
    (tmp_path / "empty").mkdir()
    assert main(["train", str(tmp_path / "empty"), "--out", str(tmp_path / "m")]) == 2
    assert "no labelled images" in capsys.readouterr().err
    root = make_dataset(tmp_path / "set", per_class=3)
    for path in (root / "tampered").iterdir():
        path.unlink()
    assert main(["train", str(root), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "forensic-viewer: error: training needs both classes in the training split and a "
        "validation split"
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(root), "--out", str(tmp_path / "m"), "--val-fraction", "1.5"])
    assert exit_info.value.code == 2
    assert "--val-fraction must be > 0 and < 1" in capsys.readouterr().err


def test_evaluate_json(small_model, capsys):
    root, model = small_model
    assert main(["evaluate", str(root), "--model", str(model), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["per_class"] == {"authentic": 10, "tampered": 10}
    assert report["count"] == 20
    matrix = report["confusion_matrix"]
    assert [sum(row) for row in matrix] == [10, 10]
    assert report["accuracy"] == pytest.approx((matrix[0][0] + matrix[1][1]) / 20)
    assert 0.0 <= report["roc_auc"] <= 1.0
    assert report["model"] == "small"
    assert report["threshold"] == load_model(model).card.threshold


def test_evaluate_text_and_validation_subset(small_model, capsys):
    root, model = small_model
    assert (
        main(["evaluate", str(root), "--model", str(model), "--subset", "val", "--seed", "2"]) == 0
    )
    out = capsys.readouterr().out
    val = data.split_dataset(data.scan_dataset(root), 0.2, 2).val
    assert f"(val): {len(val)} images" in out
    for label in ("balanced accuracy", "roc auc", "predicted tampered", "authentic flagged"):
        assert label in out


def test_evaluate_bad_model_or_folder(small_model, tmp_path, capsys):
    root, model = small_model
    assert main(["evaluate", str(root), "--model", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such model file" in err[0]
    assert main(["evaluate", str(tmp_path / "none"), "--model", str(model)]) == 2
    assert capsys.readouterr().err.strip().endswith("none: no such folder")


def test_reproduce_command_parses_back_to_the_same_settings(tmp_path):
    import shlex

    from forensic_viewer.cli import build_parser

    config = t.TrainConfig(
        recipe="tiles", epochs=7, batch_size=16, lr=3e-4, lr_decay=0.0, patience=3,
        monitor="val_auc", val_fraction=0.25, seed=11, bf16="off", balance_classes=True,
        tiles_per_image=5, hflip=False, tile_mask_fraction=0.2, out=str(tmp_path / "m.safetensors"),
        half_weights=True,
    )  # fmt: skip
    command = shlex.split(t.reproduce_command(config, tmp_path / "data set"))
    assert command[:2] == ["forensic-viewer", "train"]
    args = build_parser().parse_args(command[1:])
    assert args.dataset == str(tmp_path / "data set") and args.out == config.out
    assert args.balance and args.hflip is False and args.half
    names = ["recipe", "epochs", "batch_size", "lr", "lr_decay", "patience", "monitor"]
    names += ["val_fraction", "seed", "bf16", "tiles_per_image", "tile_mask_fraction"]
    for name in names:
        assert getattr(args, name) == getattr(config, name), name


def test_evaluate_on_a_missing_device_is_one_line_before_any_work(small_model, capsys, monkeypatch):
    import torch

    root, model = small_model
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cached = []
    monkeypatch.setattr(t, "cache_inputs", lambda *a, **k: cached.append(1))
    assert main(["evaluate", str(root), "--model", str(model), "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["forensic-viewer: error: CUDA was requested but is not available"]
    assert cached == []


def test_evaluate_when_no_image_can_be_read(small_model, tmp_path, capsys):
    root, model = small_model
    for label in ("authentic", "tampered"):
        (tmp_path / "cut" / label).mkdir(parents=True)
        (tmp_path / "junk" / label).mkdir(parents=True)
        for source in sorted((root / label).glob("*.jpg"))[:2]:
            whole = source.read_bytes()  # a JPEG header, then the data cut off
            (tmp_path / "cut" / label / source.name).write_bytes(whole[: len(whole) // 3])
            (tmp_path / "junk" / label / source.name).write_bytes(b"\xff\xd8\xff\xe0 junk")
    for folder in ("cut", "junk"):  # the scan's header check skips them all
        assert main(["evaluate", str(tmp_path / folder), "--model", str(model)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].endswith("; 4 labelled files skipped as unreadable")
    flat = tmp_path / "flat"  # good images, but no class folders or names
    flat.mkdir()
    for source in sorted((root / "authentic").glob("*.jpg"))[:3]:
        (flat / f"photo-{source.name}").write_bytes(source.read_bytes())
    assert main(["evaluate", str(flat), "--model", str(model)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"forensic-viewer: error: {flat}: no labelled images "
        "(use authentic/ and tampered/ folders, or Au_/Tp_ names)"
    ]
    # past the scan (no header check), decoding fails for every file: a clear error, no crash
    samples = data.scan_dataset(tmp_path / "cut", check_headers=False).samples
    with pytest.raises(ValueError, match="none of the 4 images could be read"):
        list(scoring.evaluate_iter(load_model(model), samples))


def test_trained_card_declares_its_validation_domain(small_model):
    root, model = small_model
    card = load_model(model).card
    val = data.split_dataset(data.scan_dataset(root), 0.2, 2).val
    assert card.domain["sides"] == [48, 64] and card.domain["pixels"] == [3072, 3072]
    assert card.domain["formats"] == ["JPEG"]
    assert card.domain["validated_on"] == f"validation split of set: {len(val)} files"


def test_evaluate_counts_inconclusive_files_apart(small_model, tmp_path, capsys):
    import shutil

    from PIL import Image

    from forensic_viewer.ml.modelfile import save_model

    root, model = small_model
    copy = shutil.copytree(root, tmp_path / "set")
    for name in ("authentic/x.png", "authentic/y.png", "tampered/z.png"):
        Image.new("RGB", (64, 48), (9, 9, 9)).save(copy / name)
    assert main(["evaluate", str(copy), "--model", str(model), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 20
    assert report["inconclusive"] == {
        "count": 3,
        "per_class": {"authentic": 2, "tampered": 1},
        "causes": {"not_jpeg": 3},
    }
    assert sum(report["verdicts"].values()) == 23 and report["verdicts"]["inconclusive"] == 3
    assert report["verdicts"]["tampered"] == sum(row[1] for row in report["confusion_matrix"])

    loaded = load_model(model)
    loaded.card.domain = dict(loaded.card.domain, sides=[500, 4000], pixels=None)
    narrow = save_model(tmp_path / "narrow", loaded.model, loaded.card)
    assert main(["evaluate", str(root), "--model", str(narrow)]) == 0
    out = capsys.readouterr().out
    assert "0 tampered, 0 no trace found, 20 inconclusive (not scored)" in out
    assert "inconclusive       authentic 10, tampered 10 (outside domain 20)" in out
    assert main(["evaluate", str(root), "--model", str(narrow), "--ignore-domain", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 20

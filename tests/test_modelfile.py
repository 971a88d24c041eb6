"""Model files: exact round trips, the card, integrity checks, and no code execution on load."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file, save_file

from forensic_viewer.core import atomic
from forensic_viewer.core.paths import user_models_dir
from forensic_viewer.ml import modelfile
from forensic_viewer.ml.model import ElaCnn
from forensic_viewer.ml.modelfile import (
    ModelCard,
    ModelFileError,
    default_model_path,
    list_models,
    load_model,
    resolve_model,
    save_model,
)
from forensic_viewer.ml.modelformat import CARD_KEY
from forensic_viewer.ml.preprocess import TILES, Recipe

CARD_KEYS = {
    "name",
    "domain",
    "architecture",
    "architecture_version",
    "recipe",
    "class_names",
    "threshold",
    "temperature",
    "training",
    "metrics",
    "created",
    "weights_sha256",
    "reproduce",
    "notes",
}


@pytest.fixture(scope="module")
def network() -> ElaCnn:
    torch.manual_seed(7)
    return ElaCnn().eval()


# Most tests use the same network for 16 x 16 inputs (a 512-wide dense layer instead of 115,200):
# the file format and checks are identical, and the tests stay fast.
SMALL = Recipe(name="small", mode="tiles", size=16)


@pytest.fixture(scope="module")
def small() -> ElaCnn:
    torch.manual_seed(8)
    return ElaCnn(input_size=16).eval()


@pytest.fixture(scope="module")
def saved(small, tmp_path_factory):
    """One small fp32 model file shared by the tests that only read or copy it."""
    folder = tmp_path_factory.mktemp("model")
    card = ModelCard(
        name="unit",
        recipe=SMALL.as_dict(),
        threshold=0.42,
        temperature=1.5,
        training={"images": 10},
        metrics={"accuracy": 0.5},
        reproduce="forensic-viewer train x --out models/unit",
        notes="random weights for tests",
    )
    return save_model(folder / "unit", small, card)


def card_for(weights):
    return modelfile.modelformat.read_card(weights)[0]


def write_card(weights, card: dict) -> None:
    """Replace the card in a model file's header (the tensor data stays byte for byte)."""
    data = weights.read_bytes()
    text = json.dumps(card)
    weights.write_bytes(modelfile.modelformat.with_metadata(weights, data, {CARD_KEY: text}))


def data_section(weights) -> bytes:
    data = weights.read_bytes()
    return data[8 + int.from_bytes(data[:8], "little") :]


def copy_model(weights, folder, stem):
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stem}.safetensors"
    shutil.copy(weights, target)
    if weights.with_suffix(".json").exists():
        shutil.copy(weights.with_suffix(".json"), target.with_suffix(".json"))
    return target


def test_round_trip_is_exact(network, tmp_path):
    saved = save_model(tmp_path / "full", network, ModelCard(name="full", recipe=TILES.as_dict()))
    assert saved.name == "full.safetensors"
    loaded = load_model(saved)
    assert not loaded.model.training
    original = network.state_dict()
    restored = loaded.model.state_dict()
    assert list(restored) == list(original)
    for key, tensor in original.items():
        assert restored[key].dtype == torch.float32
        assert torch.equal(restored[key], tensor), key
    x = torch.rand(2, 3, 128, 128)
    with torch.inference_mode():
        assert torch.equal(loaded.model(x), network(x))
    assert loaded.recipe == TILES
    assert loaded.path == saved
    assert load_model(copy_model(saved, tmp_path, "again")).card == loaded.card
    assert loaded.card_path == saved  # the card is in the file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.safetensors", "full.safetensors"]


def test_card_fields(saved):
    data = card_for(saved)
    assert set(data) == CARD_KEYS
    assert data["weights_sha256"] == hashlib.sha256(data_section(saved)).hexdigest()
    assert data["architecture"] == "ElaCnn"
    assert data["architecture_version"] == 1
    assert data["class_names"] == ["authentic", "tampered"]
    assert Recipe.from_dict(data["recipe"]) == SMALL
    assert data["recipe"] == json.loads(json.dumps(SMALL.as_dict()))
    assert (data["threshold"], data["temperature"]) == (0.42, 1.5)
    assert data["created"][:2] == "20" and "T" in data["created"]
    card = load_model(saved).card
    assert card.to_dict() == data
    assert ModelCard.from_dict({**data, "added_later": 1}) == card
    for field, value in [("threshold", "high"), ("recipe", []), ("architecture_version", True)]:
        with pytest.raises(ValueError, match=field):
            ModelCard.from_dict({**data, field: value})
    with pytest.raises(ValueError, match="between 0 and 1"):
        ModelCard.from_dict({**data, "threshold": 1.5})
    with pytest.raises(ValueError, match="name"):
        ModelCard.from_dict({"threshold": 0.5})


def test_fp16_storage_loads_as_fp32(network, tmp_path):
    half = save_model(tmp_path / "half.safetensors", network, ModelCard(name="half"), half=True)
    assert load_file(half)["classifier.1.weight"].dtype == torch.float16
    assert abs(half.stat().st_size - 2 * 29_520_034) < 10_000  # 2 bytes a parameter + header
    loaded = load_model(half)
    for key, tensor in network.state_dict().items():
        restored = loaded.model.state_dict()[key]
        assert restored.dtype == torch.float32
        assert torch.equal(restored, tensor.half().float()), key


def test_path_forms(small, tmp_path):
    weights = save_model(tmp_path / "v1.2", small, ModelCard(name="", recipe=SMALL.as_dict()))
    assert weights == tmp_path / "v1.2.safetensors"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1.2.safetensors"]
    assert card_for(weights)["name"] == "v1.2"  # an empty name becomes the file's stem
    for spelling in ("v1.2", "v1.2.safetensors", "v1.2.json"):
        assert load_model(tmp_path / spelling).path == weights


def test_sha256_mismatch_is_refused(saved, tmp_path):
    weights = copy_model(saved, tmp_path, "changed")
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of the last weight
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="SHA-256") as caught:
        load_model(weights)
    assert caught.value.path == weights
    card = card_for(weights)
    card["weights_sha256"] = ""  # without a recorded hash the same file loads
    write_card(weights, card)
    assert load_model(weights).card.weights_sha256 == ""


class RunsCode:
    """A pickle payload: unpickling it calls exec(), which writes a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


def test_a_malicious_pickle_is_refused_without_running_it(saved, tmp_path):
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.pt"
    torch.save({"classifier.1.weight": RunsCode(marker)}, evil)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(RunsCode(marker), protocol=4))

    renamed = copy_model(saved, tmp_path, "renamed")
    shutil.copy(evil, renamed)  # a pickle posing as safetensors, with a valid card beside it
    renamed_raw = copy_model(saved, tmp_path, "renamed_raw")
    shutil.copy(raw, renamed_raw)
    no_suffix = tmp_path / "model"
    shutil.copy(evil, no_suffix)

    for path in (evil, raw, renamed, renamed_raw, no_suffix):
        with pytest.raises(ModelFileError, match="pickle") as caught:
            load_model(path)
        assert path.name in str(caught.value)
        assert not marker.exists()

    # Control: the payload is real, a pickle loader does run it.
    torch.load(evil, weights_only=False)
    assert marker.read_text() == "code ran"


@pytest.mark.parametrize("keep", [0, 5, 12, 400, "half", -1])
def test_truncated_weights_name_the_file(saved, tmp_path, keep):
    weights = copy_model(saved, tmp_path, "cut")
    data = weights.read_bytes()
    keep = {"half": len(data) // 2}.get(keep, keep)
    weights.write_bytes(data[:keep])
    with pytest.raises(ModelFileError, match="truncated|not a safetensors") as caught:
        load_model(weights)
    assert "cut.safetensors" in str(caught.value)


def test_missing_files_and_bad_cards_name_the_file(saved, tmp_path):
    with pytest.raises(ModelFileError, match="does not exist") as caught:
        load_model(tmp_path / "absent")
    assert "absent.safetensors" in str(caught.value)

    weights = tmp_path / "nocard.safetensors"
    save_file(load_file(saved), weights)  # bare weights: no card in the header or beside them
    with pytest.raises(ModelFileError, match="no model card") as caught:
        load_model(weights)
    assert "nocard.safetensors" in str(caught.value) and "nocard.json" in str(caught.value)

    weights = tmp_path / "badjson.safetensors"
    save_file(load_file(saved), weights)
    weights.with_suffix(".json").write_text("{not json")  # an old two-file model's card
    with pytest.raises(ModelFileError, match="not valid JSON") as caught:
        load_model(weights)
    assert "badjson.json" in str(caught.value)

    card = card_for(saved)
    for field, value, message in [
        ("architecture", "ResNet", "not supported"),
        ("class_names", ["tampered", "authentic"], "in that order"),
        ("recipe", {**SMALL.as_dict(), "mode": "zoom"}, "unknown mode"),
        ("recipe", {**SMALL.as_dict(), "size": 64}, "do not fit"),
        ("recipe", {**SMALL.as_dict(), "channels": "ghost", "qualities": [90]}, "3 JPEG"),
        ("recipe", {**SMALL.as_dict(), "channels": "depth"}, "unknown channels"),
    ]:
        weights = copy_model(saved, tmp_path, "card")
        write_card(weights, {**card, field: value})
        with pytest.raises(ModelFileError, match=message) as caught:
            load_model(weights)
        assert caught.value.path == weights
    with pytest.raises(ModelFileError, match="folder"):
        load_model(tmp_path)


def test_wrong_or_missing_tensors_are_refused(saved, tmp_path):
    tensors = load_file(saved)
    card = {**card_for(saved), "weights_sha256": ""}
    cases = {
        "missing": {k: v for k, v in tensors.items() if k != "classifier.4.bias"},
        "shape": {**tensors, "classifier.4.bias": torch.zeros(3)},
        "nan": {**tensors, "classifier.4.bias": torch.tensor([0.0, float("nan")])},
        "ints": {**tensors, "classifier.4.bias": torch.zeros(2, dtype=torch.int64)},
    }
    messages = {
        "missing": "classifier.4.bias",
        "shape": "do not fit",
        "nan": "NaN",
        "ints": "not floating point",
    }
    for name, content in cases.items():
        weights = tmp_path / f"{name}.safetensors"
        save_file(content, weights)
        weights.with_suffix(".json").write_text(json.dumps(card))
        with pytest.raises(ModelFileError, match=messages[name]) as caught:
            load_model(weights)
        assert weights.name in str(caught.value)


def test_failed_write_leaves_the_old_model_intact(small, saved, tmp_path, monkeypatch):
    weights = copy_model(saved, tmp_path, "active")
    before = weights.read_bytes()

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        save_model(weights, small, ModelCard(name="replacement", recipe=SMALL.as_dict()))
    monkeypatch.undo()
    assert weights.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["active.safetensors"]
    assert load_model(weights).card.name == "unit"


def test_list_default_and_resolve(saved, tmp_path, monkeypatch):
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    monkeypatch.setattr(modelfile, "bundled_models_dir", lambda: bundled)
    assert default_model_path() is None
    assert list_models() == []

    default = copy_model(saved, bundled, "default")
    mine = copy_model(saved, user_models_dir(), "mine")
    orphan = user_models_dir() / "orphan.safetensors"
    save_file(load_file(saved), orphan)  # weights without a card are not a model
    shutil.copy(saved, user_models_dir() / ".mine.safetensors.abc.tmp")
    extra = copy_model(saved, tmp_path / "extra", "extra")

    assert default_model_path() == default
    assert list_models() == [default, mine]
    assert list_models(extra_dirs=[extra.parent, bundled]) == [default, mine, extra]
    assert resolve_model("mine") == mine
    assert resolve_model(str(extra)) == extra
    assert resolve_model(extra.with_suffix("")) == extra
    with pytest.raises(ModelFileError, match="known models: default, mine"):
        resolve_model("nonesuch")


def test_recipe_from_card_keeps_unknown_fields_out():
    card = ModelCard(name="x", recipe={**TILES.as_dict(), "invented_later": [90, 75]})
    assert Recipe.from_dict(card.recipe) == TILES
    assert replace(card, threshold=0.7).threshold == 0.7


def test_replace_card_keeps_the_tensor_bytes_and_the_weights_hash(saved, tmp_path, monkeypatch):
    from forensic_viewer.ml import modelformat

    path = tmp_path / "amended.safetensors"
    shutil.copyfile(saved, path)
    before = load_model(path)
    old = path.read_bytes()
    card, _ = modelformat.read_card(path)
    card["notes"] = "domain set afterwards"
    modelformat.replace_card(path, card)
    after = load_model(path)
    assert after.card.notes == "domain set afterwards"
    assert after.card.weights_sha256 == before.card.weights_sha256
    new = path.read_bytes()
    start_old = modelformat.parse_header(path, old, len(old)).data_start
    start_new = modelformat.parse_header(path, new, len(new)).data_start
    assert new[start_new:] == old[start_old:]
    # A writer that would change the tensors is refused and leaves the file as it was.
    monkeypatch.setattr(modelformat, "with_metadata", lambda p, data, extra: data[:-4] + b"\0" * 4)
    with pytest.raises(modelformat.ModelFileError, match="tensor data would change"):
        modelformat.replace_card(path, card)
    assert path.read_bytes() == new

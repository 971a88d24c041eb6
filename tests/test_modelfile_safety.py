"""Issue 12, items 1 and 6: a model is replaced in one atomic step (killed at every rename and
write, the old model or the new one loads), old two-file models still load, and every card
field and header number is range-checked into a ModelFileError naming the file."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from forensic_viewer.ml import modelformat
from forensic_viewer.ml.model import ElaCnn
from forensic_viewer.ml.modelfile import ModelCard, ModelFileError, list_models, load_model
from forensic_viewer.ml.modelfile import save_model as real_save_model
from forensic_viewer.ml.modelformat import CARD_KEY
from forensic_viewer.ml.preprocess import Recipe

SMALL = Recipe(name="small", mode="tiles", size=16)


def network(seed: int) -> ElaCnn:
    torch.manual_seed(seed)
    return ElaCnn(input_size=16).eval()


def card(name: str) -> ModelCard:
    return ModelCard(name=name, recipe=SMALL.as_dict(), threshold=0.4, temperature=1.2)


def tensors_of(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_weights(loaded, expected: dict) -> bool:
    restored = loaded.model.state_dict()
    return all(torch.equal(restored[k], v) for k, v in expected.items())


def legacy_pair(folder, stem: str, model, name: str):
    """A model in the old format: weights, and NAME.json hashing the whole weights file."""
    weights = folder / f"{stem}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, weights)
    data = {
        **card(name).to_dict(),
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }
    weights.with_suffix(".json").write_text(json.dumps(data))
    return weights


# --- item 1: one file, one rename ------------------------------------------------------------


class Killer:
    """In a forked child: counts file-system steps of a save and SIGKILLs itself at step ``at``
    (a write is cut half-way first). ``at=0`` counts only; the child exits with the count."""

    def __init__(self, at: int) -> None:
        self.at, self.count = at, 0

    def step(self, before=None) -> None:
        self.count += 1
        if self.count == self.at:
            if before is not None:
                before()
            os.kill(os.getpid(), signal.SIGKILL)

    def install(self) -> None:
        import tempfile

        real = {
            name: getattr(os, name)
            for name in ("replace", "rename", "unlink", "fsync", "fchmod", "fdopen")
        }
        real_mkstemp = tempfile.mkstemp

        def counted(name):
            def call(*args, **kwargs):
                self.step()
                result = real[name](*args, **kwargs)
                if name == "replace":
                    self.step()  # also killed just after the rename
                return result

            return call

        for name in ("replace", "rename", "unlink", "fsync", "fchmod"):
            setattr(os, name, counted(name))

        def mkstemp(*args, **kwargs):
            self.step()
            return real_mkstemp(*args, **kwargs)

        killer = self

        class HalfWrites:
            def __init__(self, handle):
                self.handle = handle

            def write(self, data):
                def half():
                    self.handle.write(bytes(data[: len(data) // 2]))
                    self.handle.flush()

                killer.step(before=half)
                return self.handle.write(data)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return self.handle.__exit__(*exc)

            def __getattr__(self, name):
                return getattr(self.handle, name)

        tempfile.mkstemp = mkstemp
        os.fdopen = lambda *a, **k: HalfWrites(real["fdopen"](*a, **k))


def save_in_child(target, model, new_card, kill_at: int) -> int:
    """Runs save_model in a fork; returns the steps counted (or -SIGKILL when killed)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 255
        try:
            killer = Killer(kill_at)
            killer.install()
            real_save_model(target, model, new_card)
            code = min(killer.count, 200)
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the saving child hung")
        time.sleep(0.01)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


@pytest.mark.parametrize("old_format", ["single", "two-file"])
def test_killed_at_every_step_the_old_or_the_new_model_loads(tmp_path, old_format):
    old_model, new_model = network(1), network(2)
    old_weights, new_weights = tensors_of(old_model), tensors_of(new_model)

    def fresh(folder):
        folder.mkdir()
        if old_format == "single":
            return real_save_model(folder / "m", old_model, card("old"))
        return legacy_pair(folder, "m", old_model, "old")

    steps = save_in_child(fresh(tmp_path / "count"), new_model, card("new"), kill_at=0)
    # mkstemp, fchmod, write, fsync, before and after the rename; unlink of the old NAME.json
    assert steps == (6 if old_format == "single" else 7)
    assert load_model(tmp_path / "count" / "m").card.name == "new"
    assert sorted(p.name for p in (tmp_path / "count").iterdir()) == ["m.safetensors"]

    outcomes = []
    for step in range(1, steps + 1):
        folder = tmp_path / f"kill{step}"
        target = fresh(folder)
        assert save_in_child(target, new_model, card("new"), kill_at=step) == -signal.SIGKILL
        loaded = load_model(target)
        outcomes.append(loaded.card.name)
        assert same_weights(loaded, new_weights if loaded.card.name == "new" else old_weights)
        # a leftover temporary file is not a model and hides nothing
        assert list_models(extra_dirs=[folder])[-1] == target
        assert [p for p in list_models(extra_dirs=[folder]) if p.parent == folder] == [target]
        # the next save works, and removes temporaries of killed writers once they are old
        for temporary in folder.glob(".*.tmp"):
            os.utime(temporary, (time.time() - 3600, time.time() - 3600))
        real_save_model(target, new_model, card("newer"))
        assert load_model(target).card.name == "newer"
        assert sorted(p.name for p in folder.iterdir()) == ["m.safetensors"]
    # before the rename the old model stays; from the rename on the new one is there
    assert outcomes == ["old"] * 5 + ["new"] * (steps - 5)


def test_a_young_temporary_file_is_left_alone(tmp_path):
    target = real_save_model(tmp_path / "m", network(1), card("old"))
    running = tmp_path / ".m.safetensors.abc123.tmp"  # another writer, still at work
    running.write_bytes(b"partial")
    real_save_model(target, network(2), card("new"))
    assert running.read_bytes() == b"partial"


def test_single_file_layout_and_hash_of_the_tensor_data(tmp_path):
    model = network(3)
    target = real_save_model(tmp_path / "one", model, card("one"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.safetensors"]
    data = target.read_bytes()
    size = int.from_bytes(data[:8], "little")
    assert size % 8 == 0  # tensors stay 8-byte aligned
    header = json.loads(data[8 : 8 + size])
    stored = json.loads(header["__metadata__"][CARD_KEY])
    assert stored["name"] == "one" and stored["temperature"] == 1.2
    assert stored["weights_sha256"] == hashlib.sha256(data[8 + size :]).hexdigest()
    assert load_file(target).keys() == model.state_dict().keys()  # plain safetensors readers
    # one flipped bit in the tensor data is caught by the card's hash
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ModelFileError, match="SHA-256") as caught:
        load_model(damaged)
    assert caught.value.path == damaged


def test_old_two_file_models_still_load_and_are_checked(tmp_path):
    model = network(4)
    weights = legacy_pair(tmp_path, "legacy", model, "legacy")
    loaded = load_model(weights)
    assert loaded.card.name == "legacy" and loaded.card_path == weights.with_suffix(".json")
    assert same_weights(loaded, tensors_of(model))
    assert list_models(extra_dirs=[tmp_path])[-1] == weights
    data = json.loads(weights.with_suffix(".json").read_text())
    data["weights_sha256"] = "0" * 64
    weights.with_suffix(".json").write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="SHA-256"):
        load_model(weights)


def test_an_unrelated_json_beside_a_new_model_is_kept(tmp_path):
    notes = tmp_path / "m.json"
    notes.write_text('{"my": "notes"}')  # not a model card: the new file must not delete it
    real_save_model(tmp_path / "m", network(1), card("new"))
    assert notes.read_text() == '{"my": "notes"}'
    assert load_model(tmp_path / "m.safetensors").card.name == "new"


# --- item 6: every card field and header number is range-checked -----------------------------


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return real_save_model(tmp_path_factory.mktemp("good") / "good", network(5), card("good"))


def with_card_text(good, tmp_path, text: str, stem: str = "bad"):
    target = tmp_path / f"{stem}.safetensors"
    data = modelformat.with_metadata(good, good.read_bytes(), {CARD_KEY: text})
    target.write_bytes(data)
    return target


def card_text(good, **changes) -> str:
    data = modelformat.read_card(good)[0]
    text = json.dumps({**data, **{k: f"@{k}@" for k in changes}})
    for key, literal in changes.items():  # raw JSON literals: Infinity, 1e400, NaN
        text = text.replace(f'"@{key}@"', literal)
    return text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"temperature": "Infinity"}, "temperature"),
        ({"temperature": "NaN"}, "temperature"),
        ({"temperature": "0"}, "temperature"),
        ({"temperature": "-1"}, "temperature"),
        ({"temperature": "1e400"}, "temperature"),
        ({"temperature": "1e9"}, "temperature"),
        ({"threshold": "NaN"}, "threshold"),
        ({"threshold": "1.5"}, "threshold"),
        ({"threshold": "-Infinity"}, "threshold"),
        ({"architecture_version": "1e400"}, "architecture_version"),
        ({"weights_sha256": '"xyz"'}, "weights_sha256"),
        ({"recipe": '{"name": "s", "mode": "tiles", "size": 1e9}'}, "recipe.size"),
        ({"recipe": '{"name": "s", "mode": "tiles", "size": 1000000000}'}, "recipe.size"),
        ({"recipe": '{"name": "s", "mode": "tiles", "size": 1e400}'}, "recipe.size"),
        ({"recipe": '{"name": "s", "mode": "tiles", "size": 16, "quality": 1e400}'}, "quality"),
        ({"recipe": '{"name": "s", "size": 16, "tile_stride": -5}'}, "recipe.tile_stride"),
        ({"recipe": '{"name": "s", "size": 16, "qualities": [1e400, 2, 3]}'}, "qualities"),
        ({"recipe": '{"name": "s", "size": 16, "qualities": "abc"}'}, "qualities"),
        ({"recipe": '{"name": "s", "size": 16, "gain": Infinity}'}, "recipe.gain"),
        ({"recipe": '{"name": "s", "size": 16, "mode": 7}'}, "recipe.mode"),
    ],
)
def test_out_of_range_card_fields_name_the_file_and_field(good, tmp_path, changes, field):
    target = with_card_text(good, tmp_path, card_text(good, **changes))
    with pytest.raises(ModelFileError) as caught:
        load_model(target)
    assert caught.value.path == target
    assert field in str(caught.value), str(caught.value)


def test_deeply_nested_cards_are_refused_by_name(good, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000  # beyond Python's recursion limit
    shallow_but_deep = "[" * 500 + "]" * 500  # parses, but no card nests like that
    for stem, nested in (("deep", deep), ("nested", shallow_but_deep)):
        target = with_card_text(good, tmp_path, card_text(good, training=nested), stem)
        with pytest.raises(ModelFileError, match="nested too deeply") as caught:
            load_model(target)
        assert caught.value.path == target
        # the legacy card beside bare weights
        bare = tmp_path / f"{stem}-old.safetensors"
        save_file(load_file(good), bare)
        bare.with_suffix(".json").write_text(card_text(good, training=nested))
        with pytest.raises(ModelFileError, match="nested too deeply") as caught:
            load_model(bare)
        assert caught.value.path == bare.with_suffix(".json")


def header_file(tmp_path, header_text: str, payload: bytes = b"\0" * 8):
    raw = header_text.encode()
    raw += b" " * (-len(raw) % 8)
    target = tmp_path / "crafted.safetensors"
    target.write_bytes(len(raw).to_bytes(8, "little") + raw + payload)
    return target


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('{"dtype": "F32", "shape": [2], "data_offsets": [0, 1e400]}', "data_offsets"),
        ('{"dtype": "F32", "shape": [2], "data_offsets": [0, 8.0]}', "data_offsets"),
        ('{"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}', "data_offsets"),
        ('{"dtype": "F32", "shape": [2], "data_offsets": [0, 99999999999999999999]}', "range"),
        ('{"dtype": "F32", "shape": [1e400], "data_offsets": [0, 8]}', "shape"),
        ('{"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}', "do not match"),
        ('{"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}', "dtype"),
        ('{"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}', "truncated"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ],
)
def test_hostile_header_numbers_are_model_file_errors(tmp_path, entry, message):
    target = header_file(tmp_path, '{"w": ' + entry + "}")
    with pytest.raises(ModelFileError, match=message) as caught:
        load_model(target)
    assert caught.value.path == target
    assert not modelformat.has_card(target)


def test_metadata_that_is_not_text_is_refused(tmp_path):
    target = header_file(tmp_path, '{"__metadata__": {"forensic_viewer.model_card": {"a": 1}}}')
    with pytest.raises(ModelFileError, match="__metadata__") as caught:
        load_model(target)
    assert caught.value.path == target


def test_a_card_that_would_not_load_is_not_written(tmp_path):
    bad = ModelCard(name="x", recipe=SMALL.as_dict(), temperature=float("inf"))
    with pytest.raises(ModelFileError, match="temperature"):
        real_save_model(tmp_path / "x", network(1), bad)
    assert list(tmp_path.iterdir()) == []


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
CARD_FIELDS = [
    "name", "architecture", "architecture_version", "recipe", "class_names", "threshold",
    "temperature", "training", "metrics", "created", "weights_sha256", "reproduce", "notes",
]  # fmt: skip
RECIPE_FIELDS = list(SMALL.as_dict())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(CARD_FIELDS + [f"recipe.{k}" for k in RECIPE_FIELDS]),
    value=JSON_VALUES,
)
def test_any_value_in_any_card_field_loads_or_is_a_model_file_error(good, tmp_path, field, value):
    data = modelformat.read_card(good)[0]
    if field.startswith("recipe."):
        data = {**data, "recipe": {**data["recipe"], field.removeprefix("recipe."): value}}
    else:
        data = {**data, field: value}
    target = with_card_text(good, tmp_path, json.dumps(data), "fuzzed")
    try:
        loaded = load_model(target)
    except ModelFileError as error:
        assert error.path == target
        return
    # what loads is usable: finite calibration inside its ranges
    assert 0.0 <= loaded.card.threshold <= 1.0
    assert 1e-3 <= loaded.card.temperature <= 1e3


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    changes=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4)
)
def test_damaged_header_bytes_give_model_file_errors(good, tmp_path, changes):
    data = bytearray(good.read_bytes())
    end = 8 + int.from_bytes(data[:8], "little")
    for position, byte in changes:
        data[position % end] = byte  # the size field, the tensor index or the card
    target = tmp_path / "damaged.safetensors"
    target.write_bytes(bytes(data))
    try:
        load_model(target)
    except ModelFileError as error:
        assert error.path == target
    modelformat.has_card(target)  # the menu's check never raises either

"""The block localiser: features, network geometry, training, save/load and ``predict --maps``."""

from __future__ import annotations

import io
import math

import jpeglib
import numpy as np
import pytest
import torch
from conftest import CASIA, needs_casia
from localiser_helpers import made_up_photos, one_torch_thread  # noqa: F401
from PIL import Image

from forensic_viewer.core.jpeg import STD_LUMINANCE, ijg_table
from forensic_viewer.ml import local_features as lf
from forensic_viewer.ml import metrics as m
from forensic_viewer.ml.localiser import IN_CHANNELS, BlockLocaliser, count_parameters
from forensic_viewer.ml.localiser_config import LocaliserConfig
from forensic_viewer.ml.localiser_data import FeatureCache
from forensic_viewer.ml.localiser_predict import LocaliserPredictor, load_localiser
from forensic_viewer.ml.localiser_train import (
    LocaliserEpochEnd,
    calibrate,
    train_localiser,
)
from forensic_viewer.ml.modelfile import ModelCard, save_model
from forensic_viewer.ml.train import Finished

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _jpeg_with_coefficients(tmp_path, y: np.ndarray, qtable: np.ndarray) -> bytes:
    """A grayscale JPEG whose luma coefficients are exactly ``y`` (rows x cols x 8 x 8)."""
    rows, cols = y.shape[:2]
    spatial = tmp_path / "base.jpg"
    Image.new("L", (cols * 8, rows * 8), 128).save(spatial, quality=100)
    jpeg = jpeglib.read_dct(str(spatial))
    jpeg.Y = y.astype(np.int16)
    jpeg.qt = qtable.reshape(1, 8, 8).astype(np.uint16)
    out = tmp_path / "made.jpg"
    jpeg.write_dct(str(out))
    return out.read_bytes()


def test_features_exact_on_two_made_up_blocks(tmp_path):
    """Block A: DC 5 and one AC coefficient 30 (clipped to 20); block B: all zero. Table step 2.
    Every feature is derived by hand from these numbers."""
    y = np.zeros((1, 2, 8, 8), np.int16)
    y[0, 0, 0, 0] = 5
    y[0, 0, 7, 7] = 30
    qtable = np.full(64, 2)
    data = _jpeg_with_coefficients(tmp_path, y, qtable)
    features = lf.read_block_features(data)
    assert features.blocks == (1, 2) and (features.height, features.width) == (8, 16)
    expected_dct = np.zeros((1, 2, 64), np.int8)
    expected_dct[0, 0, 0], expected_dct[0, 0, 63] = 5, 20
    np.testing.assert_array_equal(features.dct, expected_dct)
    np.testing.assert_array_equal(features.qtable, np.full(64, 2.0))
    # Residual at quality q: dequantised 10 (DC) and 60 (AC 7,7) requantised with the IJG table.
    for index, quality in enumerate(lf.RESIDUAL_QUALITIES):
        table = ijg_table(STD_LUMINANCE, quality).reshape(8, 8)
        energy = sum((v - round(v / t) * t) ** 2 for v, t in ((10, table[0, 0]), (60, table[7, 7])))
        value = math.log(energy + 1)  # block B: log(0 + 1) = 0; the median of the two is value/2
        np.testing.assert_allclose(features.dense[0, :, index], [value / 2, -value / 2], rtol=2e-3)


def test_phase_features_of_a_flat_step():
    """Two flat blocks, 10 apart: the only gradient is at column phase 7 of the left block."""
    luma = np.zeros((8, 16), np.float32)
    luma[:, :8] = 10.0
    phase = lf.phase_features(luma)
    profile = np.zeros(16)
    profile[7] = math.log(11.0)
    level = profile.mean()
    np.testing.assert_allclose(phase[0, 0, :16], profile - level, atol=1e-6)
    np.testing.assert_allclose(phase[0, 1, :16], 0.0, atol=1e-6)
    np.testing.assert_allclose(phase[0, :, 16], [level / 2, -level / 2], atol=1e-6)


def test_luma_from_coefficients_matches_the_decoder():
    rng = np.random.default_rng(1)
    pixels = np.asarray(Image.fromarray(rng.integers(0, 255, (12, 20), np.uint8)).resize((40, 24)))
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=85)
    decoded = np.asarray(Image.open(io.BytesIO(out.getvalue())), np.float32)
    folder = "/dev/shm" if __import__("os").path.isdir("/dev/shm") else None
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".jpg", dir=folder) as handle:
        handle.write(out.getvalue())
        handle.flush()
        jpeg = jpeglib.read_dct(handle.name)
        luma = lf.luma_from_coefficients(np.asarray(jpeg.Y), np.asarray(jpeg.qt[0]))
    # libjpeg's integer IDCT rounds differently from the exact float one by at most 1 level.
    assert np.abs(np.clip(np.rint(luma[:24, :40]), 0, 255) - decoded).max() <= 1


def test_block_targets_fractions():
    mask = np.zeros((10, 12), bool)
    mask[0:4, 0:8] = True  # half of block (0, 0)
    mask[8:10, 8:12] = True  # all of the partial edge block (1, 1): 2 x 4 pixels
    np.testing.assert_allclose(lf.block_targets(mask), [[0.5, 0.0], [0.0, 1.0]])


def test_not_a_jpeg_is_refused(tmp_path):
    png = tmp_path / "a.png"
    Image.new("RGB", (16, 16)).save(png)
    with pytest.raises(lf.NotJpegError):
        lf.read_block_features(png)
    with pytest.raises(lf.NotJpegError):
        lf.read_block_features(png.read_bytes())


@pytest.mark.parametrize("rows, cols", [(1, 1), (5, 7), (13, 21), (32, 32)])
def test_map_has_one_cell_per_block(rows, cols):
    model = BlockLocaliser().eval()
    with torch.no_grad():
        out = model(torch.zeros(2, IN_CHANNELS, rows, cols), torch.zeros(2, 64))
    assert out.shape == (2, 1, rows, cols)


def test_receptive_field_is_61_blocks():
    """Positive weights keep every ReLU open, so the gradient's extent is the structural field."""
    model = BlockLocaliser().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
                module.weight.fill_(0.01)
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.fill_(1.0)
                module.bias.fill_(0.1)
    x = torch.ones(1, IN_CHANNELS, 101, 101, requires_grad=True)
    model(x, torch.zeros(1, 64))[0, 0, 50, 50].backward()
    seen = x.grad.abs().sum((0, 1)) > 0
    rows = torch.nonzero(seen.any(1)).flatten()
    assert (int(rows.min()), int(rows.max())) == (18, 78)
    assert count_parameters(model) == 316_801


def _toy_cache(count: int, seed: int) -> FeatureCache:
    """Tampered blocks carry +3 in the residual channels, the rest is noise: easy to learn."""
    rng = np.random.default_rng(seed)
    cache = FeatureCache()
    for n in range(count):
        rows, cols = 16, 16
        dense = rng.normal(0, 0.3, (rows, cols, lf.DENSE_CHANNELS)).astype(np.float16)
        target = np.zeros((rows, cols), np.uint8)
        label = n % 2
        if label:
            y, x = rng.integers(0, 10, 2)
            target[y : y + 5, x : x + 5] = 255
            dense[..., :5] += (target[..., None] / 255 * 3).astype(np.float16)
        dct = rng.integers(-3, 4, (rows, cols, 64)).astype(np.int8)
        features = lf.BlockFeatures(dct, dense, np.full(64, 4.0, np.float32), rows * 8, cols * 8)
        cache.add(features, target, label, "toy", f"g{n}")
    return cache


def test_training_learns_a_toy_set_and_round_trips(tmp_path):
    config = LocaliserConfig(epochs=3, batch_size=8, crop_blocks=16, lr=1e-2, bf16="off",
                             device="cpu", out=str(tmp_path / "toy.safetensors"))  # fmt: skip
    events = list(train_localiser(config, caches=(_toy_cache(32, 0), _toy_cache(8, 1))))
    epochs = [e for e in events if isinstance(e, LocaliserEpochEnd)]
    assert len(epochs) == 3
    assert epochs[-1].train_loss < epochs[0].train_loss
    assert epochs[-1].val_pixel_auc > 0.9
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.saved_path is not None
    # Save/load round trip: the loaded model gives the trained model's maps exactly.
    loaded = load_localiser(finished.saved_path)
    assert loaded.card.architecture == "BlockLocaliser"
    features = _toy_cache(1, 5).features[0]
    predictor = LocaliserPredictor(loaded)
    x_logits = predictor.block_logits(features)
    reference = LocaliserPredictor(
        type(loaded)(finished.model.eval(), loaded.card, loaded.path, loaded.recipe)
    ).block_logits(features)
    np.testing.assert_array_equal(x_logits, reference)


def test_calibration_threshold_bounds_false_alarms():
    pooled = np.concatenate([np.linspace(-3, 1, 100), np.linspace(0, 4, 100)])
    labels = np.array([0] * 100 + [1] * 100)
    result = calibrate(pooled, labels, 0.02)
    flagged = np.mean(result["probs"][:100] >= result["threshold"])
    assert flagged <= 0.02 and result["threshold"] >= 0.5
    assert result["temperature"] > 0


@pytest.fixture
def tiny_model(tmp_path):
    torch.manual_seed(0)
    model = BlockLocaliser().eval()
    card = ModelCard(name="tiny", architecture="BlockLocaliser", architecture_version=1,
                     recipe={"name": "localiser", "offset": 0.0})  # fmt: skip
    return save_model(tmp_path / "tiny.safetensors", model, card)


def test_predict_maps_writes_a_png_at_the_image_size(tmp_path, tiny_model, capsys):
    from forensic_viewer.cli import main

    images = tmp_path / "evidence"
    images.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (37, 53, 3), np.uint8)).save(images / "odd.jpg")
    maps = tmp_path / "maps"
    code = main(["predict", str(images / "odd.jpg"), "--model", str(tiny_model), "--json",
                 "--maps", str(maps)])  # fmt: skip
    assert code == 0
    with Image.open(maps / "odd.png") as png:
        assert png.size == (53, 37) and png.mode == "L"
        written = np.asarray(png)
    _, heat = LocaliserPredictor(tiny_model).analyse_file(images / "odd.jpg")
    np.testing.assert_array_equal(written, np.rint(heat.upsample() * 255).astype(np.uint8))
    assert sorted(p.name for p in images.iterdir()) == ["odd.jpg"]  # nothing beside evidence
    # A second run refuses to overwrite, and maps are never written into an input's folder.
    assert main(["predict", str(images / "odd.jpg"), "--model", str(tiny_model),
                 "--maps", str(maps)]) == 2  # fmt: skip
    assert "refusing to overwrite" in capsys.readouterr().err
    assert main(["predict", str(images / "odd.jpg"), "--model", str(tiny_model),
                 "--maps", str(images)]) == 2  # fmt: skip


def test_phase_features_from_coefficients_match_the_pixel_route():
    rng = np.random.default_rng(3)
    dequantized = (rng.integers(-30, 31, (5, 7, 8, 8)) * 3).astype(np.float32)
    fast = lf.phase_features_from_dequantized(dequantized)
    reference = lf.phase_features_blocks(lf.block_pixels(dequantized))
    np.testing.assert_allclose(fast, reference, atol=2e-5)


@pytest.mark.parametrize("rows", [193, 301])
def test_strips_give_the_whole_image_pass_exactly(tiny_model, rows):
    from forensic_viewer.ml.localiser import input_tensors
    from forensic_viewer.ml.localiser_predict import strip_bounds

    assert len(strip_bounds(rows, 3)) >= 2
    rng = np.random.default_rng(rows)
    features = lf.BlockFeatures(
        rng.integers(-20, 21, (rows, 9, 64)).astype(np.int8),
        rng.normal(0, 1, (rows, 9, lf.DENSE_CHANNELS)).astype(np.float16),
        np.full(64, 3.0, np.float32),
        rows * 8,
        72,
    )
    predictor = LocaliserPredictor(tiny_model, workers=3, precision="float32")
    whole = predictor._forward(*input_tensors(features))
    # Equal up to float32 rounding (oneDNN may order the sums differently for another size).
    np.testing.assert_allclose(predictor.block_logits(features), whole, rtol=1e-5, atol=1e-6)


@needs_casia
def test_cli_trains_a_localiser_dry_run(tmp_path, capsys):
    """``train --recipe localiser`` end to end on a few CASIA images with masks and pairs
    generated from two made-up 'camera' photos: features, one tiny epoch, a loadable model."""
    from forensic_viewer.cli import main

    photos = made_up_photos(tmp_path / "photos")
    out = tmp_path / "loc.safetensors"
    code = main(["train", str(CASIA), "--recipe", "localiser", "--synthetic", str(photos),
                 "--val-by", "photo", "--dry-run", "--workers", "1", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    loaded = load_localiser(out)
    assert (
        loaded.card.recipe["name"] == "localiser" and "--recipe localiser" in loaded.card.reproduce
    )
    assert "pixel AUC" in capsys.readouterr().out


def test_localiser_loading_refuses_pickles_as_the_classic_loader_does(tmp_path):
    """Both loaders read files through modelfile.read_model_file: a pickle is never opened."""
    import pickle

    from forensic_viewer.ml.localiser_predict import load_localiser
    from forensic_viewer.ml.modelfile import ModelFileError

    named = tmp_path / "model.pt"
    named.write_bytes(pickle.dumps({"weights": 1}))
    disguised = tmp_path / "model.bin.safetensors"
    disguised.write_bytes(pickle.dumps({"weights": 1}))
    for path in (named, disguised):
        with pytest.raises(ModelFileError):
            load_localiser(path)


def test_precision_auto_follows_the_cpu_and_the_environment(monkeypatch):
    from forensic_viewer.ml import scoring
    from forensic_viewer.ml.localiser_predict import PRECISION_ENV, resolve_precision

    monkeypatch.delenv(PRECISION_ENV, raising=False)
    monkeypatch.setattr(scoring, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto") == "bf16"
    assert resolve_precision("float32") == "float32"
    monkeypatch.setattr(scoring, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto") == "float32"
    monkeypatch.setenv(PRECISION_ENV, "BF16")
    assert resolve_precision("auto") == "bf16"
    monkeypatch.setenv(PRECISION_ENV, "fp8")
    with pytest.warns(UserWarning, match="fp8"):
        assert resolve_precision("auto") == "float32"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("half")


def test_bf16_maps_stay_close_to_float32_and_strips_still_tile(tiny_model):
    """bfloat16 keeps 8 bits of mantissa: the maps differ from float32 by rounding, not by
    shape; strips still give the whole-image pass up to that rounding."""
    from forensic_viewer.ml.localiser import input_tensors

    rng = np.random.default_rng(7)
    features = lf.BlockFeatures(
        rng.integers(-20, 21, (200, 40, 64)).astype(np.int8),
        rng.normal(0, 1, (200, 40, lf.DENSE_CHANNELS)).astype(np.float16),
        np.full(64, 3.0, np.float32), 1600, 320,
    )  # fmt: skip
    exact = LocaliserPredictor(tiny_model, precision="float32").block_logits(features)
    fast = LocaliserPredictor(tiny_model, workers=3, precision="bf16")
    assert fast.precision == "bf16"
    whole = fast._forward(*input_tensors(features))
    strips = fast.block_logits(features)
    spread = float(np.std(exact))
    assert np.abs(whole - exact).mean() < 0.05 * spread
    assert np.abs(strips - whole).max() < 0.1 * spread
    assert not np.array_equal(whole, exact)  # it did run in bfloat16


@pytest.mark.parametrize("prefetch", [1, 3])
def test_folder_pass_keeps_order_and_results_with_any_prefetch(tmp_path, tiny_model, prefetch):
    """Files read ahead on several loader threads still come back in order, each with the
    result analysing it alone gives; an unreadable file in the middle is an error row."""
    from forensic_viewer.ml.architectures import analyse_path, analyse_paths

    rng = np.random.default_rng(4)
    paths = []
    for index in range(5):
        path = tmp_path / f"f{index}.jpg"
        if index == 2:
            path.write_bytes(b"not a jpeg at all")
        else:
            pixels = rng.integers(0, 255, (40 + 8 * index, 64, 3), np.uint8)
            Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    predictor = LocaliserPredictor(tiny_model, precision="float32")
    rows = list(analyse_paths(paths, predictor, prefetch=prefetch))
    assert [(index, path) for index, path, *_ in rows] == list(enumerate(paths))
    for index, path, result, error in rows:
        if index == 2:
            assert result is None and "f2.jpg" in error
            continue
        assert error is None
        prediction, heat = result
        alone, alone_heat = analyse_path(predictor, path)
        assert prediction.p_tampered == alone.p_tampered
        np.testing.assert_array_equal(heat.probs, alone_heat.probs)
    # Cancelled before the first file: nothing comes back.
    assert list(analyse_paths(paths, predictor, cancel=lambda: True, prefetch=prefetch)) == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("bf16", ["off", "on"])
def test_the_same_recipe_runs_on_cuda(tmp_path, bf16):
    """Issue 10: the recipe runs unchanged on CUDA; the model it saves predicts on the CPU."""
    config = LocaliserConfig(epochs=3, batch_size=8, crop_blocks=16, lr=1e-2, bf16=bf16,
                             device="auto", out=str(tmp_path / "cuda.safetensors"))  # fmt: skip
    events = list(train_localiser(config, caches=(_toy_cache(32, 0), _toy_cache(8, 1))))
    assert events[0].device.startswith("cuda")
    epochs = [e for e in events if isinstance(e, LocaliserEpochEnd)]
    assert len(epochs) == 3 and epochs[-1].val_pixel_auc > 0.9
    finished = events[-1]
    loaded = load_localiser(finished.saved_path)
    assert loaded.card.training["device"].startswith("cuda")
    logits = LocaliserPredictor(loaded, precision="float32").block_logits(
        _toy_cache(1, 5).features[0]
    )
    assert logits.shape == (16, 16) and np.isfinite(logits).all()


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_calibration_stays_finite_and_ordered_on_large_or_separable_scores(scale):
    """A long run's pooled logits reach tens; a fit must neither diverge nor flatten them."""
    rng = np.random.default_rng(1)
    authentic = rng.normal(-2.0, 1.0, 300) * scale
    tampered = rng.normal(2.0, 1.0, 200) * scale
    tampered[:150] += 6 * scale  # mostly separable
    pooled = np.concatenate([authentic, tampered])
    labels = np.array([0] * 300 + [1] * 200)
    result = calibrate(pooled, labels, 0.02)
    assert 1e-3 < result["temperature"] < 1e3 and np.isfinite(result["offset"])
    probs = result["probs"]
    assert m.roc_auc(labels, probs) == pytest.approx(m.roc_auc(labels, pooled))
    assert (
        probs.min() > 0.0 and probs.max() < 1.0 and np.all(np.diff(probs[np.argsort(pooled)]) >= 0)
    )
    assert np.mean(probs[:300] >= result["threshold"]) <= 0.02

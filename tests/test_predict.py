"""Predictor and batch prediction on random-weight models saved to temporary model files."""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from forensic_viewer.core.images import load_image
from forensic_viewer.ml.batch import PathPrediction, predict_paths
from forensic_viewer.ml.model import ElaCnn
from forensic_viewer.ml.modelfile import LoadedModel, ModelCard, load_model, save_model
from forensic_viewer.ml.predict import (
    PredictionCancelled,
    Predictor,
    TileHeatmap,
)
from forensic_viewer.ml.preprocess import (
    CLASSIC,
    GHOST,
    TILES,
    aggregate_tiles,
    classic_input,
    cut_tiles,
    ela_rendering,
    resized_input,
    tile_origins,
)


def make_jpeg(path, height=256, width=384, seed=0, quality=85):
    """A photo-like JPEG: smooth gradients, a bright square and sensor-like noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 200 / width, yy * 200 / height, (xx + yy) * 100 / (width + height)], -1)
    base[height // 4 : height // 2, width // 4 : width // 2] += 50
    pixels = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=quality)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Random-weight models (never shipped): the classic resize recipe and the tiles recipe."""
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(11)
    network = ElaCnn()
    resize = save_model(
        folder / "resize", network, ModelCard(name="resize", recipe=CLASSIC.as_dict())
    )
    tiles = save_model(folder / "tiles", network, ModelCard(name="tiles", recipe=TILES.as_dict()))
    ghost = save_model(folder / "ghost", network, ModelCard(name="ghost", recipe=GHOST.as_dict()))
    return {"resize": load_model(resize), "tiles": load_model(tiles), "ghost": load_model(ghost)}


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = make_jpeg(tmp_path_factory.mktemp("img") / "photo.jpg")
    return load_image(path).pixels


def reference_probs(loaded: LoadedModel, inputs: np.ndarray, temperature: float = 1.0):
    """Straight from the network: softmax(logits / T)[:, 1], one call."""
    with torch.inference_mode():
        logits = loaded.model(torch.from_numpy(inputs))
    return torch.softmax(logits / temperature, dim=1)[:, 1].double().numpy()


def with_card(loaded: LoadedModel, **changes) -> LoadedModel:
    return replace(loaded, card=replace(loaded.card, **changes))


def test_one_torch_thread_and_one_chunk_per_core(models, image):
    predictor = Predictor(load_model(models["tiles"].path))
    assert torch.get_num_threads() == 1
    assert predictor.workers == (os.cpu_count() or 1)
    chunks = count_forward_calls(predictor.loaded)
    predictor.predict(image)
    expected = [len(c) for c in np.array_split(np.arange(15), min(predictor.workers, 15))]
    assert sorted(chunks) == sorted(expected)


def test_resize_recipe_predicts_softmax_of_classic_input(models, image):
    predictor = Predictor(models["resize"])
    prediction = predictor.predict(image)
    expected = reference_probs(models["resize"], classic_input(image, CLASSIC)[None])[0]
    assert prediction.p_tampered == pytest.approx(expected, abs=1e-6)
    assert prediction.label == ("tampered" if expected >= 0.5 else "authentic")
    assert prediction.threshold == 0.5
    assert prediction.model_name == "resize"
    assert prediction.ms > 0


def test_resized_input_is_classic_input(image):
    assert np.array_equal(
        resized_input(ela_rendering(image, CLASSIC), CLASSIC), classic_input(image)
    )


def test_temperature_and_threshold_come_from_the_card(models, image):
    hot = Predictor(with_card(models["resize"], temperature=3.0))
    expected = reference_probs(models["resize"], classic_input(image)[None], temperature=3.0)[0]
    p = hot.predict(image).p_tampered
    assert p == pytest.approx(expected, abs=1e-6)
    at = Predictor(with_card(models["resize"], temperature=3.0, threshold=p))
    assert at.predict(image).label == "tampered"  # p >= threshold
    above = Predictor(with_card(models["resize"], temperature=3.0, threshold=p + 1e-4))
    assert above.predict(image).label == "authentic"


@pytest.mark.parametrize("how", ["top2mean", "max", "mean"])
def test_tiles_recipe_aggregates_native_tiles(models, image, how):
    loaded = models["tiles"]
    loaded = replace(loaded, recipe=replace(loaded.recipe, aggregate=how))
    prediction = Predictor(loaded).predict(image)
    tiles, origins = cut_tiles(ela_rendering(image, TILES), 128, 64)
    assert len(origins) == 15
    expected = aggregate_tiles(reference_probs(loaded, tiles), how)
    assert prediction.p_tampered == pytest.approx(expected, abs=1e-6)


def test_ghost_recipe_uses_its_three_quality_rendering(models, image):
    prediction = Predictor(models["ghost"]).predict(image)
    rendering = ela_rendering(image, GHOST)
    assert not np.array_equal(rendering, ela_rendering(image, TILES))
    tiles, _ = cut_tiles(rendering, 128, 64)
    expected = aggregate_tiles(reference_probs(models["ghost"], tiles), "mean")
    assert prediction.p_tampered == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("kind", ["resize", "tiles"])
def test_heatmap_is_per_tile_probability_at_native_resolution(models, image, kind):
    heatmap = Predictor(models[kind]).heatmap(image)
    assert isinstance(heatmap, TileHeatmap)
    assert heatmap.probs.shape == (3, 5)
    assert (heatmap.tile, heatmap.stride, heatmap.image_shape) == (128, 64, (256, 384))
    tiles, origins = cut_tiles(ela_rendering(image, TILES), 128, 64)
    assert heatmap.origins == origins
    expected = reference_probs(models[kind], tiles).reshape(3, 5)
    assert np.abs(heatmap.probs - expected).max() < 1e-6

    full = heatmap.upsample()
    assert full.shape == (256, 384)
    assert full.dtype == np.float32
    assert full[10, 10] == heatmap.probs[0, 0]  # only the first tile covers this pixel
    assert full[255, 383] == heatmap.probs[2, 4]
    four = heatmap.probs[0:2, 0:2].astype(np.float64).mean()  # tiles at y, x in {0, 64}
    assert full[100, 100] == pytest.approx(four, abs=1e-7)


def test_heatmap_edges_and_small_images(models):
    predictor = Predictor(models["resize"])
    rng = np.random.default_rng(1)
    uneven = rng.integers(0, 256, (136, 133, 3), dtype=np.uint8)  # columns 128-132 uncovered
    heatmap = predictor.heatmap(uneven)
    assert heatmap.probs.shape == (2, 1)
    full = heatmap.upsample()
    assert full.shape == (136, 133)
    assert np.array_equal(full[:, 132], full[:, 127])
    small = rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)
    heatmap = predictor.heatmap(small, stride=128)
    assert heatmap.probs.shape == (1, 1)
    assert np.all(heatmap.upsample() == heatmap.probs[0, 0])


def test_custom_stride_heatmap(models, image):
    heatmap = Predictor(models["tiles"]).heatmap(image, stride=128)
    assert heatmap.probs.shape == (2, 3)
    assert heatmap.origins == [(0, 0), (0, 128), (0, 256), (128, 0), (128, 128), (128, 256)]


def test_max_tiles_widens_the_stride(models):
    predictor = Predictor(models["resize"])
    assert predictor.stride_for(256, 384, 15) == 64
    assert predictor.stride_for(256, 384, 6) == 128  # 2 x 3 tiles
    assert predictor.stride_for(3000, 4000, 1000) == 128
    assert len(tile_origins(3000, 4000, 128, 128)) <= 1000 < len(tile_origins(3000, 4000, 128, 64))
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (256, 384, 3), dtype=np.uint8)
    heatmap = predictor.heatmap(pixels, max_tiles=6)
    assert (heatmap.stride, heatmap.probs.shape) == (128, (2, 3))


def count_forward_calls(loaded: LoadedModel) -> list:
    calls = []
    loaded.model.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    return calls


def test_verdict_and_heatmap_share_ela_and_tile_scores(models, image, monkeypatch):
    loaded = load_model(models["tiles"].path)  # a private copy for the hook
    calls = count_forward_calls(loaded)
    ela_calls = []
    import forensic_viewer.ml.predict as predict_module

    original = predict_module.ela_rendering
    monkeypatch.setattr(
        predict_module, "ela_rendering", lambda *a: ela_calls.append(1) or original(*a)
    )
    predictor = Predictor(loaded, batch_tiles=16, workers=2)
    prediction, heatmap = predictor.analyse(image)
    assert (len(ela_calls), sorted(calls)) == (1, [7, 8])  # 15 tiles, two chunks at once
    # the heatmap stores the same tile scores as float32, the verdict aggregates them as float64
    from_heatmap = aggregate_tiles(heatmap.probs.ravel(), "top2mean")
    assert prediction.p_tampered == pytest.approx(from_heatmap, abs=1e-6)
    predictor.predict(image)
    assert (len(ela_calls), len(calls)) == (1, 2)
    predictor.predict(image.copy())  # another array: computed again
    assert (len(ela_calls), sorted(calls)) == (2, [7, 7, 8, 8])


def test_cancel_stops_between_batches(models, image):
    predictor = Predictor(models["tiles"], batch_tiles=4)
    asked = []

    def cancel_after_two():
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(PredictionCancelled):
        predictor.heatmap(image, cancel=cancel_after_two)
    assert len(asked) == 3


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    base = tmp_path_factory.mktemp("batch")
    good = [make_jpeg(base / f"good{i}.jpg", seed=i, quality=70 + 10 * i) for i in range(4)]
    (base / "empty.jpg").write_bytes(b"")
    (base / "notes.jpg").write_text("not an image")
    return base, good


def test_predict_paths_reports_bad_files_in_order(models, folder):
    base, good = folder
    paths = [good[0], base / "empty.jpg", good[1], good[2], base / "notes.jpg", base / "gone.jpg"]
    paths.append(good[3])
    predictor = Predictor(models["resize"])
    items = list(predict_paths(paths, predictor))
    assert [i.index for i in items] == list(range(7))
    assert {i.total for i in items} == {7}
    assert [i.path for i in items] == paths
    assert [i.ok for i in items] == [True, False, True, True, False, False, True]
    assert items[1].error == "empty.jpg: the file is empty (zero bytes)"
    assert items[4].error.startswith("notes.jpg: not an image file")
    assert items[5].error == "gone.jpg: the file cannot be opened (no such file)"
    # good[3] was saved at quality 100: nothing to compare, so no network and no number
    last = items[6]
    assert (last.verdict.state, last.verdict.cause, last.prediction) == (
        "inconclusive",
        "nothing_to_compare",
        None,
    )
    for item in items[:6]:
        assert isinstance(item, PathPrediction)
        if item.ok:
            assert item.verdict is item.prediction.verdict
            single = predictor.predict(load_image(item.path).pixels)
            assert item.prediction.p_tampered == pytest.approx(single.p_tampered, abs=1e-6)
            assert item.prediction.model_name == "resize"
            assert item.prediction.ms > 0
        else:
            assert item.prediction is None


@pytest.mark.parametrize("kind", ["resize", "tiles"])
def test_batch_loader_runs_one_ela_strip_beside_the_network(models, tmp_path, kind, monkeypatch):
    """The network's chunks use every core, so the loader's ELA must not split into strips."""
    import threading

    import forensic_viewer.core.ela as core_ela

    big = make_jpeg(tmp_path / "big.jpg", height=640, width=1100, seed=9)  # 2 strips by default
    calls = []
    original = core_ela.ela_difference

    def spy(image, quality=90, backend="auto", workers=None):
        calls.append((threading.current_thread().name, workers))
        return original(image, quality, backend=backend, workers=workers)

    monkeypatch.setattr(core_ela, "ela_difference", spy)
    monkeypatch.setattr("forensic_viewer.ml.preprocess.ela_difference", spy)
    items = list(predict_paths([big], Predictor(models[kind])))
    assert items[0].ok and calls
    assert all(name.startswith("predict-loader") and workers == 1 for name, workers in calls)


def test_predict_paths_with_a_tile_model(models, folder):
    _, good = folder
    predictor = Predictor(models["tiles"])
    items = list(predict_paths(good[:2], predictor))
    for item in items:
        single = predictor.predict(load_image(item.path).pixels)
        assert item.prediction.p_tampered == pytest.approx(single.p_tampered, abs=1e-6)


@pytest.mark.parametrize("kind", ["resize", "tiles"])
def test_predict_paths_cancel(models, folder, kind):
    _, good = folder
    predictor = Predictor(models[kind])
    assert list(predict_paths(good, predictor, cancel=lambda: True)) == []
    seen = []
    for item in predict_paths(good * 3, predictor, cancel=lambda: len(seen) >= 2):
        seen.append(item)
    assert [i.index for i in seen] == [0, 1]
    assert list(predict_paths([], predictor)) == []


def test_verdict_tile_budget_on_large_images(models):
    predictor = Predictor(models["tiles"])
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, (640, 768, 3), dtype=np.uint8)  # 99 tiles at stride 64
    budgeted = predictor.predict(pixels, max_tiles=20)
    heatmap = predictor.heatmap(pixels, stride=predictor.stride_for(640, 768, 20))
    assert heatmap.probs.size <= 20
    expected = aggregate_tiles(heatmap.probs.ravel(), TILES.aggregate)
    assert budgeted.p_tampered == pytest.approx(expected, abs=1e-6)
    full = predictor.predict(pixels, max_tiles=None)
    every = predictor.heatmap(pixels, stride=64)
    assert every.probs.size == 99
    assert full.p_tampered == pytest.approx(aggregate_tiles(every.probs.ravel(), "top2mean"))

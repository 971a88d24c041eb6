"""The localiser's background loader: fresh generated pairs and re-saves from DataLoader workers
replace the oldest training items of the same source, without the training loop waiting."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
import pytest
from localiser_helpers import made_up_photos, one_torch_thread, wait_for_fresh_items  # noqa: F401
from PIL import Image

from forensic_viewer.ml import local_features as lf
from forensic_viewer.ml.data import Sample
from forensic_viewer.ml.localiser_config import LocaliserConfig
from forensic_viewer.ml.localiser_data import FeatureCache
from forensic_viewer.ml.localiser_stream import (
    GENERATED,
    LABELLED,
    BackgroundFeeder,
    FreshItems,
    PoolRefresher,
    StreamSources,
)
from forensic_viewer.ml.localiser_train import LocaliserEpochEnd, train_localiser
from forensic_viewer.ml.synthetic import find_photos
from forensic_viewer.ml.train import Finished

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def photos(tmp_path):
    return find_photos(made_up_photos(tmp_path / "photos"))


@pytest.fixture
def labelled(tmp_path):
    """One authentic and one tampered JPEG with a mask, as a labelled dataset gives them."""
    rng = np.random.default_rng(1)
    out = []
    for label in (0, 1):
        path = tmp_path / f"l{label}.jpg"
        pixels = rng.integers(0, 255, (128, 192, 3), np.uint8)
        Image.fromarray(pixels).save(path, quality=90)
        mask = None
        if label:
            mask = tmp_path / "l1_mask.png"
            m = np.zeros((128, 192), np.uint8)
            m[32:80, 40:120] = 255
            Image.fromarray(m).save(mask)
        out.append(Sample(path, label, f"g{label}", mask))
    return tuple(out)


def _first(iterable, count):
    out = []
    for item in iterable:
        out.append(item)
        if len(out) == count:
            break
    return out


def test_fresh_items_are_featurized_on_the_mask_grid_and_seeded(photos, labelled):
    sources = StreamSources(photos=tuple(photos), labelled=labelled, seed=3, max_side=256,
                            group_by="photo", labelled_share=0.5)  # fmt: skip
    items = _first(FreshItems(sources), 24)
    assert {item[0] for item in items} == {GENERATED, LABELLED}
    for source, features, targets, label, kind, group in items:
        assert isinstance(features, lf.BlockFeatures)
        assert targets.shape == features.blocks and targets.dtype == np.uint8
        if label == 0:
            assert targets.max() == 0
        if source == GENERATED:
            assert group.startswith("photo:") and max(features.blocks) <= 32
        else:
            assert group in {"g0", "g1"} and kind in {"as-is", "resave"}
    tampered = [t for s, _, t, label, _, _ in items if label == 1 and s == LABELLED]
    # The labelled mask covers blocks 4-9 x 5-14 exactly.
    for targets in tampered:
        assert targets[4:10, 5:15].min() == 255 and targets.sum() == 255 * 6 * 10
    # Same seed, same items; another seed, other items.
    again = _first(FreshItems(sources), 24)
    assert [i[4] for i in again] == [i[4] for i in items]
    assert all(np.array_equal(a[1].dct, b[1].dct) for a, b in zip(again, items, strict=True))
    other = _first(FreshItems(StreamSources(**{**sources.__dict__, "seed": 4})), 24)
    assert any(not np.array_equal(a[1].dct, b[1].dct) for a, b in zip(other, items, strict=False))


def _pool() -> FeatureCache:
    pool = FeatureCache()
    for n in range(6):
        group = f"make:m{n}" if n % 3 else f"casia{n}"
        features = lf.BlockFeatures(np.zeros((2, 2, 64), np.int8),
                                    np.zeros((2, 2, lf.DENSE_CHANNELS), np.float16),
                                    np.ones(64, np.float32), 16, 16)  # fmt: skip
        pool.add(features, np.zeros((2, 2), np.uint8), 0, "old", group)
    return pool


def test_refresher_replaces_the_oldest_item_of_the_same_source():
    pool = _pool()  # rows 0 and 3 labelled, rows 1, 2, 4, 5 generated
    refresher = PoolRefresher(pool)
    assert refresher.labelled_share() == pytest.approx(2 / 6)
    f = pool.features[0]
    t = np.full((2, 2), 255, np.uint8)
    fresh = [(GENERATED, f, t, 1, "new-g1", "photo:a"), (LABELLED, f, t, 1, "new-l1", "casiaX"),
             (GENERATED, f, t, 0, "new-g2", "photo:b"), (LABELLED, f, t, 0, "new-l2", "casiaY"),
             (LABELLED, f, t, 0, "new-l3", "casiaZ")]  # fmt: skip
    assert refresher.replace(fresh) == 5
    assert pool.kinds == ["new-l3", "new-g1", "new-g2", "new-l2", "old", "old"]
    assert pool.labels == [0, 1, 0, 0, 0, 0]
    assert refresher.replaced == {GENERATED: 2, LABELLED: 3}
    # A source the pool never had is dropped, not mixed in.
    only_generated = FeatureCache()
    only_generated.extend(pool.subset([1, 2]))
    assert PoolRefresher(only_generated).replace([(LABELLED, f, t, 0, "x", "casia")]) == 0


def test_feeder_delivers_in_the_background_and_its_worker_stops(photos):
    sources = StreamSources(photos=tuple(photos), seed=0, max_side=256, group_by="photo")
    feeder = BackgroundFeeder(sources, workers=1, capacity=8)
    try:
        got = []
        deadline = time.monotonic() + 120
        while len(got) < 6 and time.monotonic() < deadline:
            got += feeder.take()
            time.sleep(0.05)
        assert len(got) >= 6, feeder.error
        assert feeder.received == len(got) and all(item[0] == GENERATED for item in got)
        assert feeder.problem() is None
    finally:
        assert feeder.close()
    assert not feeder._thread.is_alive()
    deadline = time.monotonic() + 30
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not multiprocessing.active_children()


def test_workers_draw_different_streams(photos, monkeypatch):
    from types import SimpleNamespace

    from forensic_viewer.ml import localiser_stream

    sources = StreamSources(photos=tuple(photos), seed=0, max_side=256, group_by="photo")
    streams = []
    for worker in (0, 1):
        monkeypatch.setattr(
            localiser_stream, "get_worker_info", lambda w=worker: SimpleNamespace(id=w)
        )
        streams.append(_first(FreshItems(sources), 3))
    assert not all(np.array_equal(a[1].dct, b[1].dct) for a, b in zip(*streams, strict=True))


def test_labelled_draws_keep_the_pools_item_mix():
    from forensic_viewer.ml.localiser_stream import GENERATED_PER_ROUND, labelled_draw_probability

    for share in (0.0, 0.25, 0.5, 0.9, 1.0):
        p = labelled_draw_probability(share)
        items_labelled = p / (p + (1 - p) * GENERATED_PER_ROUND)
        assert items_labelled == pytest.approx(share)


def test_labelled_fresh_items_use_the_caches_central_window(tmp_path):
    """A large labelled photo gives the same 64 x 64-block window as the labelled cache."""
    from forensic_viewer.ml.localiser_data import build_cache, labelled_items

    path = tmp_path / "big.jpg"
    pixels = np.random.default_rng(2).integers(0, 255, (640, 800, 3), np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    sample = Sample(path, 0, "big")
    fresh = _first(FreshItems(StreamSources(labelled=(sample,), seed=2)), 1)[0]
    assert fresh[1].blocks == (64, 64) and fresh[4] == "as-is"  # seed 2 draws it as is
    gen = build_cache(labelled_items([sample]), "x", 1, workers=1)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        cached = stop.value
    as_is = [f for f, kind in zip(cached.features, cached.kinds, strict=True) if kind == "as-is"]
    assert np.array_equal(fresh[1].dct, as_is[0].dct)
    assert np.array_equal(fresh[1].dense, as_is[0].dense)


def test_a_streamed_run_trains_records_its_loader_and_counts_fresh_items(
    tmp_path, photos, monkeypatch
):
    wait_for_fresh_items(monkeypatch)
    config = LocaliserConfig(synthetic=str(photos[0].path.parent), val_by="photo", per_photo=2,
                             max_side=256, epochs=2, batch_size=4, crop_blocks=16, bf16="off",
                             device="cpu", workers=1, stream_workers=1,
                             cache_dir=str(tmp_path / "cache"),
                             out=str(tmp_path / "s.safetensors"))  # fmt: skip
    events = list(train_localiser(config))
    epochs = [e for e in events if isinstance(e, LocaliserEpochEnd)]
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.saved_path is not None
    sources = finished.card.training["sources"]
    assert sources["loader"] == "stream"
    assert sum(sources["fresh_items"].values()) == sum(e.fresh_items for e in epochs) > 0
    assert "loader_problem" not in sources
    assert "--loader stream" in finished.card.reproduce
    assert not multiprocessing.active_children() or _children_gone()


def _children_gone() -> bool:
    deadline = time.monotonic() + 30
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not multiprocessing.active_children()

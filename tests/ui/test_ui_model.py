"""The viewer's pure parts: pixel cache budget, folder expansion, workers and generations."""

from __future__ import annotations

import time

import numpy as np
import pytest

from forensic_viewer.ui.settings import parse_qualities
from forensic_viewer.ui.viewer.document import PixelCache, expand_paths, make_thumbnail, printable
from forensic_viewer.ui.workers import GenerationCounter, Worker, WorkerPool


def block(nbytes: int) -> np.ndarray:
    return np.zeros(nbytes, np.uint8)


def test_cache_evicts_least_recently_used_by_bytes():
    cache = PixelCache(budget_bytes=1000, max_images=10)
    cache.put((1, "pixels"), block(400))
    cache.put((2, "pixels"), block(400))
    cache.get((1, "pixels"))  # 1 is now more recent than 2
    cache.put((3, "pixels"), block(400))
    assert cache.image_ids() == [1, 3]
    assert cache.nbytes == 800 and cache.evictions == 1


def test_cache_caps_images_and_keeps_the_pinned_one():
    cache = PixelCache(budget_bytes=10**9, max_images=2)
    cache.pin([1])
    cache.put((1, "pixels"), block(10))
    cache.put((1, "diff", 90), block(10))
    cache.put((2, "pixels"), block(10))
    cache.put((3, "pixels"), block(10))
    assert cache.image_ids() == [1, 3]  # 1 is pinned although least recently used
    assert (1, "diff", 90) in cache
    cache.pin([])
    cache.put((4, "pixels"), block(10))
    assert cache.image_ids() == [3, 4]


def test_pinned_entries_survive_even_over_budget():
    cache = PixelCache(budget_bytes=100, max_images=5)
    cache.pin([7])
    cache.put((7, "pixels"), block(500))
    assert cache.image_ids() == [7]
    assert cache.drop_image(7) == 500 and len(cache) == 0


def test_expand_paths_sorted_recursive_capped(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ("b/2.jpg", "b/1.PNG", "a.tif", "skip.txt", "c.webp"):
        (tmp_path / name).write_bytes(b"x")
    files, notes = expand_paths([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [
        "a.tif",
        "c.webp",
        "b/1.PNG",
        "b/2.jpg",
    ]
    assert notes == []
    files, notes = expand_paths([tmp_path, tmp_path / "a.tif"], cap=2)
    assert len(files) == 2
    assert notes == [f"{tmp_path.name}: more than 2 images; only the first 2 were opened"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert expand_paths([empty]) == ([], ["empty: no images found in this folder"])
    # a plain file is kept whatever its suffix: the loader names the problem
    assert expand_paths([tmp_path / "skip.txt"]) == ([tmp_path / "skip.txt"], [])


def test_thumbnail_is_oriented_and_small():
    pixels = np.zeros((300, 600, 3), np.uint8)
    pixels[:, :300] = 255
    thumb = make_thumbnail(pixels, orientation=6)  # rotated: left half becomes the top half
    assert thumb.shape == (160, 80, 3)
    assert thumb[:70].min() == 255 and thumb[90:].max() == 0


def test_printable_names_show_undecodable_bytes():
    import os

    assert printable(os.fsdecode(b"caf\xe9.jpg")) == "caf\ufffd.jpg"
    assert printable("фото.jpg") == "фото.jpg"


def test_parse_qualities():
    assert parse_qualities("60, 70 80;90,90") == [60, 70, 80, 90]
    for bad, reason in (("", "no quality given"), ("0", "0 is outside 1-100"), ("x", "'x' is not")):
        with pytest.raises(ValueError, match=reason):
            parse_qualities(bad)


def test_generator_worker_yields_returns_and_finishes(qtbot):
    pool = WorkerPool(max_threads=1)

    def job():
        yield from range(3)
        return "done"

    yielded, returned = [], []
    worker = Worker(job)
    worker.yielded.connect(yielded.append)
    worker.returned.connect(returned.append)
    with qtbot.waitSignal(worker.finished, timeout=5000):
        pool.start(worker, generation=4)
    assert yielded == [0, 1, 2]
    assert returned == ["done"]
    assert worker.generation == 4 and worker.is_done
    qtbot.waitUntil(pool.is_idle, timeout=1000)


def test_worker_reports_errors_and_stops_when_asked(qtbot):
    pool = WorkerPool(max_threads=1)

    def failing():
        raise ValueError("bad pixels")

    worker = Worker(failing)
    with qtbot.waitSignal(worker.errored, timeout=5000) as blocker:
        pool.start(worker)
    assert str(blocker.args[0]) == "bad pixels"
    assert "ValueError: bad pixels" in blocker.args[0].__traceback_text__

    gate = {"go": False}

    def endless():
        while True:
            while not gate["go"]:
                time.sleep(0.001)  # held until the test has asked it to stop
            yield 1

    worker = Worker(endless)
    returned = []
    worker.returned.connect(returned.append)
    with qtbot.waitSignal(worker.aborted, timeout=5000):
        pool.start(worker)
        worker.quit()
        gate["go"] = True
    qtbot.waitUntil(lambda: worker.is_done, timeout=2000)
    assert returned == []


def test_generation_counter_drops_old_results():
    counter = GenerationCounter()
    first = counter.bump()
    second = counter.bump()
    assert not counter.accept(first)
    assert counter.accept(second)
    assert counter.dropped == 1

"""Fresh training material while the localiser trains: a ``DataLoader`` whose worker processes
generate new pairs and new re-saves in the background.

Why a pool and not batches straight from the loader: on a 2-core CPU one worker makes about 13
featurized images a second while a training step eats 32 crops in 0.07 s, so a loop that waited
for the workers would train at a fifth of its speed. Instead the run starts from the feature
caches (``localiser_sources``) and, between steps, :class:`BackgroundFeeder` hands over whatever
the workers finished; each fresh item replaces the oldest item of its own source in the
training pool. Training never waits, the labelled/generated mix stays as it was, and a long
run sees thousands of pairs and re-save qualities that no cache held.

What the workers make (:class:`FreshItems`, an endless ``IterableDataset``):
- ``generated``: one round of ``ml.synthetic.generate`` on a random training photo (a tampered
  image, its twin saved identically, an innocent-operation authentic), with a new seed each
  time, donors from the training photos only;
- ``labelled``: a random labelled training image with its mask, as is or re-saved at a random
  quality 70-98 (both classes alike, as in the cache).

Validation never comes from here: it stays the fixed cached split. The price: which fresh items
a step sees depends on timing, so a streamed run is not bit-for-bit reproducible (``--loader
cache`` is).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .data import Sample
from .localiser_data import (
    GENERATED_GROUP_PREFIXES,
    FeatureCache,
    _featurize,
    generated_rows,
    labelled_items,
)

GENERATED, LABELLED = "generated", "labelled"


def is_generated_group(group: str) -> bool:
    """Generated items are grouped by 'make:...' or 'photo:...' (``localiser_data``)."""
    return group.startswith(GENERATED_GROUP_PREFIXES)


@dataclass(frozen=True)
class StreamSources:
    """What the workers draw from: training-side material only."""

    photos: tuple = ()
    """``synthetic.Photo`` of the training side (held-out and validation photos excluded)."""
    labelled: tuple[Sample, ...] = ()
    """Labelled training samples with masks (authentic ones need none)."""
    seed: int = 0
    max_side: int | None = 512
    group_by: str = "make"
    labelled_share: float = 0.5
    """The share of fresh items that come from ``labelled`` (the pool's own mix)."""


GENERATED_PER_ROUND = 3
"""Items one generated round gives (a tampered image, its twin, an innocent authentic); a
labelled draw gives one."""


def labelled_draw_probability(share: float) -> float:
    """The chance of a labelled draw that makes ``share`` of the *items* labelled."""
    share = min(max(share, 0.0), 1.0)
    weighted = share * GENERATED_PER_ROUND
    return weighted / (weighted + 1.0 - share) if weighted + 1.0 - share > 0 else 1.0


def _identity(item):
    # batch_size=None would otherwise turn every numpy array into a tensor (default_convert)
    return item


class FreshItems(IterableDataset):
    """Endless featurized items, as ``(source, features, targets, label, kind, group)``."""

    def __init__(self, sources: StreamSources) -> None:
        super().__init__()
        self.sources = sources

    def __iter__(self):
        info = get_worker_info()
        worker = info.id if info is not None else 0
        s = self.sources
        rng = np.random.default_rng([s.seed, 7919, worker])
        labelled = [x for x in s.labelled if x.label == 0 or x.mask is not None]
        p_labelled = labelled_draw_probability(s.labelled_share)
        while True:
            if labelled and (not s.photos or rng.random() < p_labelled):
                yield from self._labelled(labelled[int(rng.integers(len(labelled)))], rng)
            elif s.photos:
                yield from self._generated(rng)
            else:
                return

    def _labelled(self, sample: Sample, rng: np.random.Generator):
        quality = None if rng.random() < 0.5 else int(rng.integers(70, 99))
        for item in labelled_items([sample], resave_quality=quality):
            row = _featurize(item)  # the labelled cache's central window, too
            if row is not None:
                yield (LABELLED, *row)

    def _generated(self, rng: np.random.Generator):
        s = self.sources
        photo = s.photos[int(rng.integers(len(s.photos)))]
        seed = int(rng.integers(2**31 - 1))
        for row in generated_rows(photo, s.photos, seed, 1, s.max_side, s.group_by):
            yield (GENERATED, *row)


class BackgroundFeeder:
    """Runs a ``DataLoader`` over :class:`FreshItems` in a thread that only moves finished items
    into a bounded queue (the work is in the loader's worker processes). ``take()`` never
    blocks. ``workers=0`` generates in that thread instead (tests; slow with the GIL)."""

    def __init__(self, sources: StreamSources, workers: int = 1, capacity: int = 512) -> None:
        self.error: BaseException | None = None
        self.received = 0
        self._queue: queue.Queue = queue.Queue(maxsize=capacity)
        self._stop = threading.Event()
        options = {"num_workers": workers, "batch_size": None, "collate_fn": _identity}
        if workers > 0:
            # The platform's default start (fork on Linux), as the feature pools use. Not
            # forkserver or spawn: those re-run an unguarded ``__main__`` script in every
            # worker (seen with a screenshot script: the whole wizard ran twice). A forked
            # worker only runs numpy, Pillow and jpeglib; torch resets its thread pool at fork.
            options.update(prefetch_factor=8, persistent_workers=False)
        self._loader = DataLoader(FreshItems(sources), **options)
        self._thread = threading.Thread(target=self._run, name="localiser-feeder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        iterator = None
        try:
            iterator = iter(self._loader)
            for item in iterator:
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    break
        except BaseException as exc:  # training goes on from the pool; the run records it
            self.error = exc
        finally:
            shutdown = getattr(iterator, "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()

    def take(self, limit: int = 256) -> list[tuple]:
        """Up to ``limit`` finished items, without waiting."""
        out = []
        while len(out) < limit:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                break
        self.received += len(out)
        return out

    def problem(self) -> str | None:
        """Why fresh items stopped coming (a worker died, generation failed), or None."""
        if self.error is None:
            return None
        return f"{type(self.error).__name__}: {self.error}"[:300]

    def close(self, timeout: float = 30.0) -> bool:
        """Stop the loader and its workers; False when they did not stop within ``timeout``."""
        self._stop.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __enter__(self) -> BackgroundFeeder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PoolRefresher:
    """Replaces a training pool's items with fresh ones, the oldest of the same source first."""

    def __init__(self, pool: FeatureCache) -> None:
        self.pool = pool
        rows = {GENERATED: [], LABELLED: []}
        for i, group in enumerate(pool.groups):
            rows[GENERATED if is_generated_group(group) else LABELLED].append(i)
        self.rows = rows
        self._next = {GENERATED: 0, LABELLED: 0}
        self.replaced = {GENERATED: 0, LABELLED: 0}

    def labelled_share(self) -> float:
        total = len(self.rows[GENERATED]) + len(self.rows[LABELLED])
        return len(self.rows[LABELLED]) / total if total else 0.0

    def replace(self, items: Sequence[tuple]) -> int:
        """Put fresh items in place; an item whose source has no rows in the pool is dropped."""
        done = 0
        pool = self.pool
        for source, features, targets, label, kind, group in items:
            rows = self.rows[source]
            if not rows:
                continue
            i = rows[self._next[source] % len(rows)]
            self._next[source] += 1
            pool.features[i], pool.targets[i] = features, targets
            pool.labels[i], pool.kinds[i], pool.groups[i] = int(label), kind, group
            self.replaced[source] += 1
            done += 1
        return done

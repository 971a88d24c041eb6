"""Which network a model file holds, and the predictor that runs it.

Two architectures: the classic ``ElaCnn`` (tiles or a resized image of ELA; ``ml.predict``) and
the ``BlockLocaliser`` (a per-8x8-block map from JPEG DCT features; ``ml.localiser_predict``).
The card names the architecture; everything that loads a model for prediction goes through
``make_predictor`` so both stay selectable.
"""

from __future__ import annotations

import time
from pathlib import Path

from .modelpaths import weights_path_for

LOCALISER = "BlockLocaliser"


def architecture_of(path: str | Path) -> str:
    """The architecture named by a model's card (in the file's header, or NAME.json of an
    older pair); 'ElaCnn' when unreadable: its loader then reports the problem."""
    from . import modelformat

    try:
        card, _ = modelformat.read_card(weights_path_for(path))
        return str(card.get("architecture", "ElaCnn"))
    except (modelformat.ModelFileError, OSError, ValueError, AttributeError):
        return "ElaCnn"


def is_localiser(predictor_or_path) -> bool:
    if isinstance(predictor_or_path, str | Path):
        return architecture_of(predictor_or_path) == LOCALISER
    return bool(getattr(predictor_or_path, "needs_file", False))


def make_predictor(path: str | Path):
    """A Predictor (ElaCnn) or LocaliserPredictor for a model file. Raises ModelFileError."""
    path = Path(path)
    if architecture_of(path) == LOCALISER:
        from .localiser_predict import LocaliserPredictor

        return LocaliserPredictor(path)
    from .predict import Predictor

    return Predictor(path)


def analyse_path(predictor, path: str | Path, cancel=None):
    """(Prediction, heatmap with .upsample()) for one file, whatever the architecture: the
    localiser reads the JPEG's coefficients, the ELA network the decoded stored-grid pixels."""
    if is_localiser(predictor):
        return predictor.analyse_file(Path(path), cancel)
    from ..core.images import load_image

    return predictor.analyse(load_image(path).pixels, cancel)


def analyse_paths(paths, predictor, cancel=None, prefetch: int | None = None):
    """Yields (index, path, (Prediction, heatmap) or None, error or None) in order; the next
    ``prefetch`` files are read (features or pixels) on loader threads while the network runs.
    Default: one file for the ELA network (its network is the slow part), one per core for the
    localiser (its features are: numpy releases the GIL, so two files' features use two cores)."""
    from concurrent.futures import ThreadPoolExecutor

    from ..core.errors import ForensicError

    paths = [Path(p) for p in paths]
    localiser = is_localiser(predictor)

    def prepare(path: Path):
        started = time.perf_counter()
        try:
            if localiser:
                from .local_features import read_block_features

                return (read_block_features(path), time.perf_counter() - started), None
            from ..core.images import load_image

            return (load_image(path).pixels, time.perf_counter() - started), None
        except ForensicError as error:
            return None, str(error) if path.name in str(error) else f"{path.name}: {error}"
        except Exception as error:  # one odd file must not end a batch
            return None, f"{path.name}: could not be analysed ({type(error).__name__}: {error})"

    if prefetch is None:
        from .predict import default_workers

        prefetch = default_workers() if localiser else 1
    prefetch = max(1, prefetch)
    with ThreadPoolExecutor(prefetch, thread_name_prefix="maps-loader") as loader:
        futures = [loader.submit(prepare, p) for p in paths[:prefetch]]
        for index, path in enumerate(paths):
            if cancel is not None and cancel():
                for future in futures:
                    if future is not None:
                        future.cancel()
                return
            if index + prefetch < len(paths):
                futures.append(loader.submit(prepare, paths[index + prefetch]))
            data, error = futures[index].result()
            futures[index] = None
            if error is not None:
                yield index, path, None, error
                continue
            array, seconds = data
            if localiser:
                # The verdict's time includes reading the file's coefficients (as for ELA).
                started = time.perf_counter() - seconds
                result = predictor.analyse_features(array, cancel, started)
            else:
                result = predictor.analyse(array, cancel)
            yield index, path, result, None

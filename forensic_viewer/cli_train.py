"""``forensic-viewer train`` and ``forensic-viewer evaluate``.

train: a progress bar per epoch (stderr, shown on a terminal) and one summary line per epoch on
stdout; the model is saved atomically at the end. Ctrl-C cancels between batches and saves
nothing. evaluate: confusion matrix, accuracy, balanced accuracy, ROC AUC and per-class counts of
a saved model on a labelled folder (``--json`` for one JSON object on stdout).
Exit status: 0 done, 2 bad input (one line on stderr), 130 cancelled. torch is imported only
when a command runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from .core.jsonout import dumps


def fail(message: str, code: int = 2) -> int:
    print(f"forensic-viewer: error: {message}", file=sys.stderr)
    return code


def _number(kind, low=None, high=None, low_open=False, high_open=False, name="value"):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from exc
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            lo = f"{'>' if low_open else '>='} {low}" if low is not None else ""
            hi = f"{'<' if high_open else '<='} {high}" if high is not None else ""
            raise argparse.ArgumentTypeError(
                f"{name} must be {' and '.join(filter(None, [lo, hi]))}"
            )
        return value

    return parse


def register(subparsers: argparse._SubParsersAction) -> None:
    from .ml.preprocess import RECIPES

    defaults = _defaults()
    p = subparsers.add_parser(
        "train",
        help="train the network on a labelled folder",
        description="Train on DATASET (class folders authentic/ and tampered/, or CASIA-style "
        "Au_/Tp_/Sp_ names). Validation is split by source photo when known (MANIFEST.tsv "
        "group_id or CASIA names). Defaults are the classic Keras recipe.",
    )
    p.add_argument("dataset", metavar="DATASET", nargs="?")
    p.add_argument("--out", required=True, metavar="PATH", help="model to write (NAME.safetensors)")
    p.add_argument("--recipe", choices=[*sorted(RECIPES), "localiser"], default=defaults.recipe)
    p.add_argument("--epochs", type=_number(int, 1, name="--epochs"), default=defaults.epochs)
    p.add_argument(
        "--batch-size", type=_number(int, 1, name="--batch-size"), default=defaults.batch_size
    )
    p.add_argument("--lr", type=_number(float, 0, name="--lr"), default=defaults.lr)
    p.add_argument(
        "--lr-decay",
        type=_number(float, 0, name="--lr-decay"),
        default=defaults.lr_decay,
        help="Keras decay per batch: lr = lr0 / (1 + decay * iteration)",
    )
    p.add_argument(
        "--patience",
        type=_number(int, 0, name="--patience"),
        default=defaults.patience,
        help="epochs without a better --monitor value before stopping (0: never stop)",
    )
    p.add_argument(
        "--monitor",
        choices=("val_acc", "val_loss", "val_auc"),
        default=defaults.monitor,
        help="what early stopping and the best epoch follow (classic: val_acc)",
    )
    p.add_argument(
        "--val-fraction",
        type=_number(float, 0, 1, True, True, name="--val-fraction"),
        default=defaults.val_fraction,
    )
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=defaults.device)
    p.add_argument(
        "--bf16",
        choices=("auto", "on", "off"),
        default=defaults.bf16,
        help="bfloat16 autocast for training (auto: on CPUs with native bf16)",
    )
    p.add_argument("--balance", action="store_true", help="weight the loss by class frequency")
    p.add_argument(
        "--tiles-per-image",
        type=_number(int, 1, name="--tiles-per-image"),
        default=defaults.tiles_per_image,
        help="random tiles per image and epoch (tiles recipe)",
    )
    p.add_argument(
        "--tile-mask-fraction",
        type=_number(float, 0, 1, True, False, name="--tile-mask-fraction"),
        default=defaults.tile_mask_fraction,
        help="tiles recipe with masks: a tile is tampered when at least this much is masked",
    )
    flip = p.add_mutually_exclusive_group()
    flip.add_argument(
        "--hflip",
        dest="hflip",
        action="store_true",
        default=None,
        help="random flips that keep the 8-px JPEG grid (default: tiles yes, classic no)",
    )
    flip.add_argument("--no-hflip", dest="hflip", action="store_false")
    p.add_argument("--checkpoint-dir", metavar="DIR", help="default: the user cache folder")
    p.add_argument("--half", action="store_true", help="store the weights as float16")
    p.add_argument("--force", action="store_true", help="replace an existing model at --out")
    p.add_argument("--dry-run", action="store_true", help="train one tiny batch end to end")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the last checkpoint in --checkpoint-dir (after a crash or a kill); "
        "the settings must be the same",
    )
    p.add_argument(
        "--input-size",
        type=_number(int, 16, name="--input-size"),
        metavar="PX",
        help="network input size (default: the recipe's, 128); smaller trains faster",
    )
    from .cli_localiser import add_localiser_arguments

    add_localiser_arguments(p)
    p.set_defaults(func=cmd_train)

    e = subparsers.add_parser(
        "evaluate",
        help="measure a model on a labelled folder",
        description="Confusion matrix, accuracy, balanced accuracy, ROC AUC and per-class "
        "counts of a model on DATASET, at the threshold stored in its model card. Files the "
        "verdict calls inconclusive (not a JPEG, too small, outside the model's validated "
        "domain) are counted apart and not scored, as predict would not score them.",
    )
    e.add_argument("dataset", metavar="DATASET")
    e.add_argument("--model", required=True, metavar="M", help="NAME.safetensors or model name")
    e.add_argument("--json", action="store_true", help="one JSON object on stdout")
    e.add_argument(
        "--subset",
        choices=("all", "val", "train"),
        default="all",
        help="evaluate on the whole folder or on one side of the training split",
    )
    e.add_argument(
        "--val-fraction",
        type=_number(float, 0, 1, True, True, name="--val-fraction"),
        default=defaults.val_fraction,
    )
    e.add_argument("--seed", type=int, default=defaults.seed)
    e.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    e.add_argument(
        "--ignore-domain",
        action="store_true",
        help="also score files outside the model card's validated domain (to measure the model "
        "there); files without the evidence (not a JPEG, too small) stay inconclusive",
    )
    e.set_defaults(func=cmd_evaluate)


def _defaults():
    """TrainConfig's defaults for the parser (ml.config needs no torch, so --help stays fast)."""
    from .ml.config import TrainConfig

    return TrainConfig()


def _scan(path: str):
    from .ml.data import scan_dataset

    try:
        dataset = scan_dataset(path)
    except FileNotFoundError:
        return None, fail(f"{path}: no such folder")
    if not dataset.samples:
        message = f"{path}: no labelled images"
        unreadable = len(dataset.unreadable())
        if unreadable:
            message += f"; {unreadable} labelled files skipped as unreadable"
        if unreadable < len(dataset.skipped) or not dataset.skipped:
            message += " (use authentic/ and tampered/ folders, or Au_/Tp_ names)"
        return None, fail(message)
    return dataset, 0


def _bar(total: int, description: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="img", leave=False, disable=None,
                file=sys.stderr, dynamic_ncols=True)  # fmt: skip


class _CancelOnInterrupt:
    """First Ctrl-C asks the trainer to stop between batches; a second one interrupts."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def __enter__(self):
        self.previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True
            print("\nstopping after this batch (Ctrl-C again to abort)", file=sys.stderr)

        try:
            signal.signal(signal.SIGINT, handler)
        except ValueError:  # not the main thread (tests): no handler, no cancel
            self.previous = None
        return self

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def cmd_train(args: argparse.Namespace) -> int:
    import dataclasses

    from .core.paths import user_cache_dir
    from .ml import train as t
    from .ml.distributed import is_main_process
    from .ml.modelfile import weights_path_for
    from .ml.preprocess import RECIPES

    if not is_main_process():
        # torchrun: rank 0 prints and writes; the others keep only their error messages.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of this process
        os.environ["TQDM_DISABLE"] = "1"
    if args.recipe == "localiser":
        from .cli_localiser import cmd_train_localiser

        return cmd_train_localiser(args)
    if args.dataset is None:
        return fail(f"the {args.recipe} recipe needs DATASET (a labelled folder)")
    out = weights_path_for(args.out)
    if out.exists() and not args.force and not args.resume:
        return fail(f"{out} exists (use --force to replace it)")
    recipe = RECIPES[args.recipe]
    if args.input_size:
        recipe = dataclasses.replace(recipe, size=args.input_size)
    dataset, code = _scan(args.dataset)
    if dataset is None:
        return code
    checkpoint_dir = args.checkpoint_dir or str(user_cache_dir() / "checkpoints" / out.stem)
    config = t.TrainConfig(
        recipe=recipe, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        lr_decay=args.lr_decay, patience=args.patience, monitor=args.monitor,
        val_fraction=args.val_fraction,
        seed=args.seed, device=args.device, bf16=args.bf16, balance_classes=args.balance,
        tiles_per_image=args.tiles_per_image, tile_mask_fraction=args.tile_mask_fraction,
        hflip=args.hflip, dry_run=args.dry_run,
        checkpoint_dir=checkpoint_dir, out=str(out), half_weights=args.half, resume=args.resume,
    )  # fmt: skip
    counts = dataset.counts()
    print(
        f"{dataset.root}: {counts['authentic']} authentic, {counts['tampered']} tampered, "
        f"{len(dataset.skipped)} skipped"
    )
    for path, reason in dataset.skipped[:20]:
        print(f"  skipped {path}: {reason}", file=sys.stderr)
    for warning in dataset.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    bar = None
    finished = None
    with _CancelOnInterrupt() as cancel:
        try:
            events = t.train(config, dataset, cancel)
            for event in events:
                bar = _show(event, bar, config)
                if isinstance(event, t.Finished):
                    finished = event
        except ValueError as exc:
            return fail(str(exc))
        finally:
            if bar is not None:
                bar.close()
    if finished is None or finished.cancelled:
        print("cancelled: no model saved", file=sys.stderr)
        return 130
    return _summary(finished)


def _show(event, bar, config):
    from tqdm import tqdm

    from .ml import train as t
    from .ml.data import CachingProgress

    if isinstance(event, t.Resumed):
        print(f"resumed after epoch {event.epoch} from {event.path}")
    elif isinstance(event, t.Prepared):
        v, tr = event.val_counts, event.train_counts
        print(
            f"split {event.split_method}: train {tr['authentic']}+{tr['tampered']} "
            f"({tr['groups']} groups), validation {v['authentic']}+{v['tampered']} "
            f"({v['groups']} groups); {event.device}, {event.precision}"
        )
        for warning in event.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    elif isinstance(event, CachingProgress):
        if bar is None:
            bar = _bar(event.total, "ELA inputs")
        bar.n = event.done
        bar.set_postfix(reused=event.reused, failed=event.failed, refresh=False)
        bar.refresh()
        if event.done == event.total:
            bar.close()
            bar = None
    elif isinstance(event, t.BatchProgress):
        if bar is None or event.batch == 1:
            if bar is not None:
                bar.close()
            bar = tqdm(total=event.batches, desc=f"epoch {event.epoch}/{config.epochs}",
                       unit="batch", leave=False, disable=None, file=sys.stderr)  # fmt: skip
        bar.update(1)
        bar.set_postfix(loss=f"{event.loss:.4f}", img_s=f"{event.images_per_s:.1f}")
    elif isinstance(event, t.ValidationProgress):
        if event.batch == 1:
            if bar is not None:
                bar.close()
            bar = tqdm(total=event.batches, desc=f"validating {event.epoch}", unit="batch",
                       leave=False, disable=None, file=sys.stderr)  # fmt: skip
        bar.update(1)
    elif isinstance(event, t.EpochEnd):
        if bar is not None:
            bar.close()
            bar = None
        print(
            f"epoch {event.epoch:>3}: train loss {event.train_loss:.4f} acc {event.train_acc:.4f}"
            f" | val loss {event.val_loss:.4f} acc {event.val_acc:.4f} auc {event.val_auc:.4f}"
            f" | {event.seconds:.1f} s"
        )
    elif isinstance(event, t.EarlyStop):
        print(f"early stop after epoch {event.epoch}: best was epoch {event.best_epoch}")
    return bar


def _summary(finished) -> int:
    report = finished.metrics
    val = report["validation"]
    raw = report["validation_uncalibrated_at_0.5"]
    print(
        f"best epoch {finished.best_epoch}: validation accuracy {_f(raw['accuracy'])}, "
        f"balanced {_f(raw['balanced_accuracy'])}, ROC AUC {_f(raw['roc_auc'])}, authentic "
        f"flagged {_f(raw['authentic_flagged'])} (threshold 0.5)"
    )
    print(
        f"calibrated: temperature {report['temperature']:.3f}, ECE {_f(report['ece_before'])}"
        f" -> {_f(report['ece_after'])}; threshold {report['threshold']:.3f} (max balanced "
        f"accuracy on validation): accuracy {_f(val['accuracy'])}, balanced "
        f"{_f(val['balanced_accuracy'])}, authentic flagged {_f(val['authentic_flagged'])}"
    )
    print(f"saved {finished.saved_path}")
    return 0


def _f(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .core.errors import ForensicError
    from .ml import scoring
    from .ml.data import CachingProgress, split_dataset
    from .ml.modelfile import load_model, resolve_model

    try:
        loaded = load_model(resolve_model(args.model))
    except ForensicError as exc:
        return fail(str(exc))
    dataset, code = _scan(args.dataset)
    if dataset is None:
        return code
    samples = dataset.samples
    if args.subset != "all":
        split = split_dataset(dataset, args.val_fraction, args.seed)
        samples = split.val if args.subset == "val" else split.train
    bar, phase, report = None, None, None
    runner = scoring.evaluate_iter(
        loaded, samples, device=args.device, ignore_domain=args.ignore_domain
    )
    try:
        while True:
            event = next(runner)
            caching = isinstance(event, CachingProgress)
            if not caching and not isinstance(event, scoring.ValidationProgress):
                continue
            description = "ELA inputs" if caching else "scoring"
            if phase != description:
                if bar is not None:
                    bar.close()
                bar = _bar(event.total if caching else event.batches, description)
                phase = description
            bar.n = event.done if caching else event.batch
            bar.refresh()
    except StopIteration as stop:
        report = stop.value
    except ValueError as exc:
        return fail(str(exc))
    finally:
        if bar is not None:
            bar.close()
    report["dataset"] = dataset.summary()
    report["subset"] = args.subset
    if args.json:
        print(dumps(report, indent=2))
        return 0
    matrix = report["confusion_matrix"]
    print(f"model {report['model']} on {dataset.root} ({args.subset}): {report['count']} images")
    per_class = report["per_class"]
    print(f"  authentic {per_class['authentic']}, tampered {per_class['tampered']}")
    print("                 predicted authentic  predicted tampered")
    print(f"  authentic      {matrix[0][0]:>19}  {matrix[0][1]:>18}")
    print(f"  tampered       {matrix[1][0]:>19}  {matrix[1][1]:>18}")
    print(f"  threshold          {report['threshold']:.4f}")
    for key in ("accuracy", "balanced_accuracy", "roc_auc", "authentic_flagged", "ece"):
        print(f"  {key.replace('_', ' '):<18} {_f(report[key])}")
    verdicts, inconclusive = report["verdicts"], report["inconclusive"]
    print(
        f"  verdicts           {verdicts['tampered']} tampered, {verdicts['no_trace']} no trace "
        f"found, {verdicts['inconclusive']} inconclusive (not scored)"
    )
    if inconclusive["count"]:
        causes = ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in inconclusive["causes"].items())
        per_class = inconclusive["per_class"]
        print(
            f"  inconclusive       authentic {per_class['authentic']}, tampered "
            f"{per_class['tampered']} ({causes})"
        )
    for path, reason in report["unreadable_files"]:
        print(f"  unreadable {Path(path).name}: {reason}", file=sys.stderr)
    return 0

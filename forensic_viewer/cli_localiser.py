"""``forensic-viewer train --recipe localiser``: the block localiser from a labelled folder with
masks, a folder of untouched photos (generated pairs), or both. Same exit codes as ``train``."""

from __future__ import annotations

import argparse
import json
import sys


def add_localiser_arguments(p: argparse.ArgumentParser) -> None:
    from .ml.localiser_config import INPUT_GROUPS, LocaliserConfig

    d = LocaliserConfig()
    g = p.add_argument_group("localiser recipe (--recipe localiser)")
    g.add_argument(
        "--synthetic",
        metavar="PHOTOS",
        help="folder of untouched photos: a source of generated tampered/authentic pairs, "
        "with or instead of DATASET",
    )
    g.add_argument(
        "--exclude-make",
        action="append",
        default=[],
        metavar="MAKE",
        help="never use photos of this camera make (repeat; e.g. the benchmark's held-out makes)",
    )
    g.add_argument(
        "--exclude-held-out",
        action="store_true",
        help="leave out the detection benchmark's held-out makes (ml.suite.HELD_OUT_MAKES)",
    )
    g.add_argument(
        "--val-by",
        choices=("make", "photo"),
        default=d.val_by,
        help="split generated pairs into training and validation by make or photo",
    )
    g.add_argument(
        "--per-photo",
        type=int,
        default=d.per_photo,
        help="generated rounds per photo (each: a tampered image, its pair, and an "
        "innocent-operation authentic)",
    )
    g.add_argument(
        "--max-side",
        type=int,
        default=d.max_side,
        help="generated images are crops of at most this many pixels a side",
    )
    g.add_argument(
        "--inputs",
        default=",".join(INPUT_GROUPS),
        help=f"feature groups the network reads (ablation): some of {INPUT_GROUPS}",
    )
    g.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="MIN",
        help="stop after the epoch that passes this many minutes of training",
    )
    g.add_argument(
        "--loader",
        choices=("stream", "cache"),
        default=d.loader,
        help="stream: DataLoader workers generate fresh pairs and re-saves in the background "
        "and replace the oldest training items (not bit-for-bit reproducible); cache: the "
        "cached items only",
    )
    g.add_argument(
        "--stream-workers",
        type=int,
        default=d.stream_workers,
        help="worker processes of the stream loader",
    )
    g.add_argument("--cache-dir", metavar="DIR", help="feature caches (default: user cache)")
    g.add_argument("--workers", type=int, default=d.workers, help="feature worker processes")
    g.add_argument("--threads", type=int, default=d.threads, help="torch threads on the CPU")


def cmd_train_localiser(args: argparse.Namespace) -> int:
    from .cli_train import _CancelOnInterrupt, fail
    from .core.paths import user_cache_dir
    from .ml import train as t
    from .ml.localiser_config import INPUT_GROUPS, LocaliserConfig
    from .ml.localiser_data import FeatureProgress
    from .ml.localiser_train import LocaliserEpochEnd, train_localiser
    from .ml.modelfile import weights_path_for
    from .ml.scoring import ValidationProgress

    out = weights_path_for(args.out)
    if out.exists() and not args.force:
        return fail(f"{out} exists (use --force to replace it)")
    if not args.dataset and not args.synthetic:
        return fail("the localiser needs DATASET (with masks), --synthetic PHOTOS, or both")
    inputs = tuple(x.strip() for x in args.inputs.split(",") if x.strip())
    if not inputs or set(inputs) - set(INPUT_GROUPS):
        return fail(f"--inputs must be some of {','.join(INPUT_GROUPS)}, got {args.inputs!r}")
    excluded = [m.lower() for m in args.exclude_make]
    if args.exclude_held_out:
        from .ml.suite import HELD_OUT_MAKES

        excluded += [m for m in HELD_OUT_MAKES if m not in excluded]
    defaults = t.TrainConfig()
    config = LocaliserConfig(
        dataset=args.dataset,
        synthetic=args.synthetic,
        exclude_makes=tuple(excluded),
        val_by=args.val_by,
        val_fraction=args.val_fraction,
        per_photo=args.per_photo,
        max_side=args.max_side,
        epochs=args.epochs,
        seed=args.seed,
        device=args.device,
        bf16=args.bf16,
        batch_size=args.batch_size if args.batch_size != defaults.batch_size else 32,
        lr=args.lr if args.lr != defaults.lr else LocaliserConfig.lr,
        workers=args.workers,
        threads=args.threads,
        inputs=inputs,
        loader=args.loader,
        stream_workers=args.stream_workers,
        time_budget_min=args.time_budget,
        cache_dir=args.cache_dir,
        dry_run=args.dry_run,
        half_weights=args.half,
        checkpoint_dir=args.checkpoint_dir or str(user_cache_dir() / "checkpoints" / out.stem),
        out=str(out),
    )
    finished = None
    with _CancelOnInterrupt() as cancel:
        try:
            for event in train_localiser(config, cancel):
                if isinstance(event, FeatureProgress):
                    if event.done == event.total:
                        print(f"features: {event.source}: {event.total} done", file=sys.stderr)
                elif isinstance(event, t.Prepared):
                    print(
                        f"train {event.train_counts}, validation {event.val_counts}; "
                        f"{event.device}, {event.precision}"
                    )
                    print(f"sources: {event.split_method}")
                elif isinstance(event, t.BatchProgress | ValidationProgress):
                    continue
                elif isinstance(event, LocaliserEpochEnd):
                    print(
                        f"epoch {event.epoch:>3}: train loss {event.train_loss:.4f} | val image "
                        f"AUC {event.val_auc:.4f}, pixel AUC {event.val_pixel_auc:.4f}, pixel "
                        f"F1 {event.val_pixel_f1:.4f} | {event.seconds:.1f} s"
                        + (f", {event.fresh_items} fresh items" if event.fresh_items else ""),
                        flush=True,
                    )
                elif isinstance(event, t.Finished):
                    finished = event
        except (ValueError, FileNotFoundError) as exc:
            return fail(str(exc))
    if finished is None or finished.cancelled:
        print("cancelled: no model saved", file=sys.stderr)
        return 130
    report = finished.metrics
    problem = finished.card.training.get("sources", {}).get("loader_problem")
    if problem:
        print(f"warning: {problem}; training went on with the items it had", file=sys.stderr)
    summary = {
        k: report.get(k)
        for k in (
            "pixel_auc_median",
            "pixel_f1_median",
            "threshold",
            "temperature",
            "offset",
            "best_epoch",
        )
    }
    summary["roc_auc"] = report["validation"]["roc_auc"]
    summary["flagged_by_kind"] = report["flagged_by_kind"]
    print(json.dumps(summary))
    print(f"saved {finished.saved_path}")
    return 0

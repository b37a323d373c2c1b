"""`hwnas train`: an architecture trained on a dataset, written as a deployable model folder.

The out dir is the model folder (`hwnas.core.trained`: `model.json`, `model.safetensors`)
plus `train.json` (the run's settings and data fingerprint), `train_log.jsonl` (one line per
epoch) and `checkpoint/` (`hwnas.methods.training.checkpoint`). Rerunning the same command
resumes from the checkpoint; one with other settings or data is refused unless `force`; an
existing folder holding anything else is refused before any work.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hwnas.errors import InputError

RUN_FILE = "train.json"
RESULT_FILE = "result.json"
_OWN_FILES = (
    RUN_FILE,
    RESULT_FILE,
    "train_log.jsonl",
    "model.json",
    "model.safetensors",
    "checkpoint",
    "checkpoint.old",
)
SMALL_DEPTH = {"cells_per_stage": 1, "layers": 5}
"""Default depth per depth keyword: 1 NB201 cell per stage, 5 DARTS cells (small data, CPU)."""
DEFAULT_CHANNELS = 16


class OutDirError(InputError):
    """An out dir that holds something else, or another run's training."""


@dataclass(frozen=True)
class TrainJob:
    """What `train_model` does.

    Attributes:
        out: The model folder to write (and resume from).
        arch: The architecture string (NB201, FBNet, a DARTS genotype's string); or
        genotype: A DARTS genotype JSON file.
        space: The search space of `arch`.
        data: A `hwnas.core.datasets.load_split_dataset` spec.
        config: The training (`TrainConfig`).
        channels: Width keyword of the space's network (NB201, DARTS); None: 16.
        cells: Depth (NB201 cells per stage, DARTS cells); None: 1 (NB201), 5 (DARTS).
        input_size: Side the images are resized to inside the network; None: the data's.
        val_fraction: Share of the training data held out for validation.
        max_images: Cap on the training+validation images.
        torch_device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        init_from: A supernet folder to start an NB201 cell from (`inherit_from_supernet`).
        force: Overwrite an earlier run of other settings in `out`.
    """

    out: Path
    arch: str | None = None
    genotype: Path | None = None
    space: str = "nb201"
    data: str = "digits"
    config: Any = None
    channels: int | None = None
    cells: int | None = None
    input_size: int | None = None
    val_fraction: float = 0.1
    max_images: int | None = None
    torch_device: str = "cpu"
    init_from: Path | None = None
    force: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.arch is None) == (self.genotype is None):
            raise InputError("give exactly one of --arch ARCH and --genotype FILE")
        for name in ("channels", "cells", "input_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"--{name.replace('_', '-')} must be positive, got {value}")
        if not 0 < self.val_fraction < 1:
            raise InputError(f"--val-fraction must lie in (0, 1), got {self.val_fraction}")


@dataclass(frozen=True)
class TrainResult:
    """What `train_model` made (accuracies in percent, of the PyTorch model).

    Attributes:
        model_dir: The model folder (`hwnas export --model` reads it).
        epochs: Epochs of the training; `epochs_run` of them ran in this call, the others
            were restored from the checkpoint (`resumed_from`).
        best_epoch: The epoch whose weights were kept (best validation accuracy).
        val_accuracy: Validation accuracy of the kept weights.
        test_accuracy: On the dataset's test split; None where it has none.
        images_per_s: Training throughput of this call (None if no epoch ran).
        train_seconds: Training time of all epochs.
        wall_seconds: Time of this call, data loading and evaluation included.
    """

    model_dir: Path
    epochs: int
    epochs_run: int
    resumed_from: int
    best_epoch: int
    val_accuracy: float
    test_accuracy: float | None
    images_per_s: float | None
    train_seconds: float
    wall_seconds: float
    inherited: dict[str, Any] | None = None


def check_out_dir(out: Path) -> None:
    """Refuse an out dir that exists and holds files `hwnas train` did not write."""
    if out.exists() and not out.is_dir():
        raise OutDirError(f"--out {out} is a file; give a folder (new, or an earlier run's)")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / RUN_FILE).is_file():
        entries = sorted(p.name for p in out.iterdir())[:3]
        raise OutDirError(
            f"--out {out} exists and holds other files ({', '.join(entries)}...), not an "
            "earlier `hwnas train` run; choose a new folder"
        )


def _parse_arch(job: TrainJob) -> tuple[str, str]:
    """(space, canonical architecture string)."""
    from hwnas.core.spaces import create_space
    from hwnas.core.spaces.darts_genotype import load_genotype

    if job.genotype is not None:
        genotype = load_genotype(job.genotype)
        return genotype.space, str(genotype)
    space = create_space(job.space)
    try:
        return job.space, str(space.parse(job.arch))
    except ValueError as err:
        raise InputError(f"--arch: {err}") from None


def _network_size(job: TrainJob, space_name: str) -> tuple[dict[str, Any], int]:
    """(size keywords of the space's `build`, input channels of its network).

    Width: `job.channels` or 16. Depth (the space's `depth_keyword`): `job.cells` or a small
    default for small data and CPUs (`SMALL_DEPTH`: 1 NB201 cell per stage, 5 DARTS cells).
    """
    from hwnas.core.spaces import create_space

    space = create_space(space_name)
    size: dict[str, Any] = {}
    if "channels" in space.size_defaults:
        size["channels"] = job.channels or DEFAULT_CHANNELS
    depth = space.depth_keyword
    if depth is not None:
        size[depth] = job.cells or SMALL_DEPTH.get(depth, space.size_defaults[depth])
    unused = [
        flag
        for flag, given, applies in (
            ("--channels", job.channels, "channels" in size),
            ("--cells", job.cells, depth is not None),
        )
        if given and not applies
    ]
    if unused:
        raise InputError(
            f"{' and '.join(unused)} do not apply to {space_name} networks (their size is fixed "
            "by the space's setting)"
        )
    space.check_sizes(**size)
    return size, int(space.input_shape[0])


def _prepare_out(out: Path, run_key: dict[str, Any], force: bool) -> None:
    """Check `out` against an earlier run's key (refuse, or wipe with `force`), record ours."""
    run_file = out / RUN_FILE
    if run_file.is_file():
        try:
            old = json.loads(run_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            old = {}
        if old != run_key:
            if not force:
                keys = sorted(k for k in set(old) | set(run_key) if old.get(k) != run_key.get(k))
                raise OutDirError(
                    f"--out {out} holds a training with other settings or data (differs in "
                    f"{', '.join(keys)}); rerun with --force to replace it, or choose another --out"
                )
            for name in _OWN_FILES:
                path = out / name
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(run_key, indent=2) + "\n", encoding="utf-8")


def train_model(job: TrainJob, progress=None) -> TrainResult:
    """Train `job`'s architecture on its data and write the model folder `job.out`.

    In a torchrun launch, every process calls this; rank 0 alone writes and reports.

    Raises:
        OutDirError: `job.out` holds something else, or another run without `job.force`.
        DatasetError, InputError: bad data or settings; DivergedError: the loss became NaN.
    """
    import torch

    from hwnas.core.datasets import load_split_dataset
    from hwnas.core.deployable import build_deployable
    from hwnas.core.trained import TrainedModelSpec, file_sha256, save_trained_model
    from hwnas.methods.training import distributed
    from hwnas.methods.training.config import TrainConfig
    from hwnas.methods.training.loop import evaluate, fit

    started = time.perf_counter()
    config = job.config or TrainConfig()
    out = Path(job.out)
    space_name, arch = _parse_arch(job)
    size, channels_in = _network_size(job, space_name)
    ctx = distributed.setup(job.torch_device)
    try:
        error = None
        if ctx.is_main:
            try:
                check_out_dir(out)
            except OutDirError as err:
                error = err
        distributed.share_error(ctx, error)
        data = load_split_dataset(
            job.data, val_fraction=job.val_fraction, seed=config.seed, max_images=job.max_images
        )
        c, h, w = data.input_shape
        side = (job.input_size, job.input_size) if job.input_size else (h, w)
        repeat = channels_in // c if channels_in % c == 0 else 0
        if not repeat:
            raise InputError(
                f"{job.data}: {c}-channel images cannot feed a {channels_in}-channel network"
            )
        spec = TrainedModelSpec(
            space=space_name,
            arch=arch,
            input_shape=(c, h, w),
            num_classes=data.num_classes,
            class_names=data.class_names,
            mean=tuple(data.mean) * repeat,
            std=tuple(data.std) * repeat,
            network_input=(channels_in, *side),
            network=size,
            data={"spec": data.spec, "fingerprint": data.fingerprint},
        )
        init = None
        if job.init_from is not None:
            weights = Path(job.init_from) / "supernet.safetensors"
            init = {"path": str(job.init_from)}
            init["sha256"] = file_sha256(weights) if weights.is_file() else None
        run_key = {
            "space": space_name,
            "arch": arch,
            "network": size,
            "network_input": list(spec.network_input),
            "data": spec.data,
            "val_fraction": job.val_fraction,
            "max_images": job.max_images,
            "config": config.to_dict(),
            "processes": ctx.world_size,
            "init_from": init,
        }
        torch.manual_seed(config.seed)
        model = build_deployable(spec)
        inherited = None
        if job.init_from is not None:  # refused (shape, folder) before anything is written
            from hwnas.methods.training.inherit import inherit_from_supernet

            inherited = inherit_from_supernet(model.network, job.init_from)
        error = None
        if ctx.is_main:
            try:
                _prepare_out(out, run_key, job.force)
            except OutDirError as err:
                error = err
        distributed.share_error(ctx, error)
        result = fit(model, data, config, out, ctx, run_key=run_key, progress=progress)
        model.to("cpu")
        cpu = torch.device("cpu")
        val_acc, _ = evaluate(model, data.val, cpu)
        test_acc = evaluate(model, data.test, cpu)[0] if data.test is not None else None
        training = {
            **config.to_dict(),
            "augment": _augmentation(config, data),
            "best_epoch": result.best_epoch,
            "selection": "best validation accuracy",
            "val_accuracy": val_acc,
            "test_accuracy": test_acc,
            "processes": ctx.world_size,
            "init_from": inherited,
            "train_seconds": result.train_seconds,
            "split_sizes": {
                "train": len(data.train),
                "val": len(data.val),
                "test": None if data.test is None else len(data.test),
            },
        }
        summary = TrainResult(
            model_dir=out,
            epochs=config.epochs,
            epochs_run=config.epochs - result.resumed_from,
            resumed_from=result.resumed_from,
            best_epoch=result.best_epoch,
            val_accuracy=val_acc,
            test_accuracy=test_acc,
            images_per_s=result.images_per_s,
            train_seconds=result.train_seconds,
            wall_seconds=time.perf_counter() - started,
            inherited=inherited,
        )
        if ctx.is_main:
            save_trained_model(out, model.state_dict(), replace(spec, training=training))
            record = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(summary).items()}
            (out / RESULT_FILE).write_text(json.dumps(record, indent=2) + "\n")
        distributed.barrier(ctx)
        return summary
    finally:
        distributed.teardown(ctx)


def _augmentation(config, data) -> str:
    from hwnas.methods.training.config import augmentation_for

    return augmentation_for(config, data.name, data.input_shape)

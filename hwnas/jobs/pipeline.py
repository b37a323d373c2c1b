"""The three jobs in a row for this machine: profile, generate for a budget, train, export.

`hwnas run` ends in a trained, measured engine. The network that ships is the network whose
latency was measured and predicted: the profile times each cell as the deployable network of
the training data (`NetworkSetting`: the data's image shape and classes, the network size,
the preprocessing in the graph), not the NAS-Bench-201 table's 3x32x32 network. The cell is
ranked by a NAS-Bench-201 accuracy table (`rank_by_table`) and trained on the user's data
(`data`): two different things, named apart everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwnas.core.export import OnnxExport
from hwnas.errors import InputError
from hwnas.jobs.generate import DATASETS as TABLES
from hwnas.jobs.generate import (
    GenerateResult,
    check_budget_arguments,
    fit_latency_predictor,
    generate_for_budget,
    median_bound_budget,
)
from hwnas.jobs.profile import (
    PROFILE_THREADS,
    ProfileConfig,
    ProfileResult,
    check_local,
    profile_device,
    table_index,
)
from hwnas.jobs.profile_setting import NetworkSetting, split_key

DEFAULT_DATA = "digits"
DEFAULT_EPOCHS = 15
DEFAULT_CHANNELS = 16
DEFAULT_CELLS = 1
PRECISIONS = ("fp32", "int8")
DEFAULT_EXPORTER = "legacy"
"""The exporter of the profiled and the shipped files (the same one, so that what is timed is
what ships). The TorchScript-based exporter: on the shared 2-core VM it exported a 1x8x8 NB201
network in about 2 s against 15-29 s for the torch.export-based one, and the files timed
alike (ONNX Runtime, 1 thread); 40 profiled cells would otherwise take over 10 minutes."""
SUMMARY_FILE = "summary.json"


class PipelineError(InputError):
    """Settings the main job cannot use together (the message names them)."""


@dataclass(frozen=True)
class TrainingPlan:
    """What `run_pipeline` trains the chosen cell on, and how big its network is.

    Attributes:
        data: The training data (a `hwnas.core.datasets.load_split_dataset` spec).
        epochs: Training epochs.
        batch_size: Training batch size.
        channels: Network width (NB201 channels of the first stage).
        cells: Network depth (NB201 cells per stage).
        input_size: Side the images are resized to inside the network; None: the data's own
            side (the profile then times the network at the data's shape).
        seed: Seed of the weights, batch order and validation split.
        torch_device: Where to train (``cpu``, ``cuda``, ``auto``).
        threads: torch CPU threads of the training; None leaves torch's default. 1 by default:
            on the shared 2-core VM, 2 threads trained over 10x slower than 1 while other
            processes ran (33 against 428 images/s).
        precisions: The exported files' precisions (fp32 is always one).
    """

    data: str = DEFAULT_DATA
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = 64
    channels: int = DEFAULT_CHANNELS
    cells: int = DEFAULT_CELLS
    input_size: int | None = None
    seed: int = 0
    torch_device: str = "cpu"
    threads: int | None = 1
    precisions: tuple[str, ...] = PRECISIONS

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "channels", "cells"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise PipelineError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        for name in ("input_size", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise PipelineError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if "fp32" not in self.precisions:
            object.__setattr__(self, "precisions", ("fp32", *self.precisions))


@dataclass(frozen=True)
class PipelineResult:
    """The outcome of each job, and the budget used (`budget_from_median` if none was given).

    Attributes:
        setting: The network profiled, trained and shipped (shape, classes, size).
        rank_by_table: The NAS-Bench-201 table whose accuracy ranked the cells.
        data: The data the chosen cell was trained and scored on.
        train: The training's `hwnas.jobs.train.TrainResult` (resumed where it had finished).
        export: The `ExportReport` of the shipped files (accuracy and latency per precision).
        summary_path: `summary.json` of the run.
    """

    profile: ProfileResult
    generate: GenerateResult
    setting: NetworkSetting
    rank_by_table: str
    data: str
    train: Any
    export: Any
    budget_ms: float
    budget_from_median: bool
    summary_path: Path
    stages_s: dict[str, float] = field(default_factory=dict)

    @property
    def deployable(self) -> bool:
        """The fp32 file passed its checks and some file is within the accuracy drop."""
        report = self.export
        return report.file("fp32").passed and report.choice.fastest_within_drop is not None


def network_setting(plan: TrainingPlan, space_name: str = "nb201") -> NetworkSetting:
    """The network `hwnas train` will build for `plan` (from the data's shape and classes).

    Raises:
        DatasetError: for data that cannot be read.
    """
    from hwnas.core.datasets import load_split_dataset
    from hwnas.core.spaces import create_space

    data = load_split_dataset(plan.data, seed=plan.seed)
    space = create_space(space_name)
    sizes = {"channels": plan.channels} if "channels" in space.size_defaults else {}
    if space.depth_keyword is not None:
        sizes[space.depth_keyword] = plan.cells
    return NetworkSetting(
        input_shape=tuple(data.input_shape),
        num_classes=data.num_classes,
        sizes=sizes,
        input_size=plan.input_size,
    )


def run_pipeline(
    out_dir: str | Path,
    *,
    budget_ms: float | None = None,
    config: ProfileConfig | None = None,
    plan: TrainingPlan | None = None,
    rank_by_table: str = "cifar10",
    confidence: float | None = 0.9,
    device=None,
    progress: Callable | None = None,
    train_progress=None,
    stage: Callable[[str], None] | None = None,
    store_path: str | Path | None = None,
) -> PipelineResult:
    """Profiles this machine, picks the best cell within the budget, trains it, exports it.

    Without a budget, the median of the profiled cells' latency bounds is used
    (`median_bound_budget`), so that roughly half of them meet it. `confidence` is passed
    to `generate_for_budget`. A rerun resumes: stored measurements are not timed again, and
    a finished training (same cell, data and settings) is restored from its checkpoint
    rather than run again.

    Files under `out_dir`: `measurements.sqlite` (the store), `latency_ms.csv` (this
    setting's `arch,latency_ms,...`), `onnx/<setting>/` (the timed files), `train/<cell>-
    <setting>/` (the model folder, checkpoints, log), `export/` (the fp32 and int8 files,
    `report.json`, `report.md`) and `summary.json`.

    Args:
        config: What to profile; its `network` is set here from `plan`.
        plan: What to train the chosen cell on, and the network size.
        rank_by_table: The NAS-Bench-201 accuracy table that ranks cells (``cifar10``,
            ``cifar100``, ``ImageNet16-120``); not the training data.
        progress: The profile's `progress(done, total, key, row)`.
        train_progress: The training's epoch reporter (`hwnas.methods.training.progress`).
        stage: Called with a one-line message as each job starts.
        store_path: The measurement store (default `out_dir`/measurements.sqlite); runs for
            several budgets can share one, with the timed files next to it.
    """
    import dataclasses
    import time

    from devices import local_device

    say = stage or (lambda message: None)
    config = config or ProfileConfig(exporter=DEFAULT_EXPORTER)
    plan = plan or TrainingPlan()
    device = device or local_device()
    if rank_by_table not in TABLES:
        raise PipelineError(
            f"--rank-by-table {rank_by_table!r}: NAS-Bench-201 tables are {', '.join(TABLES)}"
        )
    check_local(device)
    check_budget_arguments(budget_ms, confidence)
    out_dir = Path(out_dir)
    stages: dict[str, float] = {}

    started = time.perf_counter()
    setting = network_setting(plan, config.space)
    config = dataclasses.replace(config, network=setting)
    say(f"profiling {device.name}: {config.space} cells as they ship for {plan.data}")
    profile = profile_device(
        Path(store_path) if store_path else out_dir / "measurements.sqlite",
        config,
        device=device,
        csv_path=out_dir / "latency_ms.csv",
        progress=None if progress is None else _bare_keys(progress),
    )
    stages["profile_s"] = time.perf_counter() - started

    started = time.perf_counter()
    from_median = budget_ms is None
    predictor = fit_latency_predictor(profile.latency_ms)
    if from_median:
        budget_ms = median_bound_budget(profile.latency_ms, predictor, confidence)
    say(
        f"choosing the cell within {budget_ms:.3f} ms that ranks best in NAS-Bench-201's "
        f"{rank_by_table} table"
    )
    generated = generate_for_budget(
        profile.latency_ms,
        budget_ms,
        dataset=rank_by_table,
        confidence=confidence,
        predictor=predictor,
    )
    chosen = generated.chosen
    stages["generate_s"] = time.perf_counter() - started

    started = time.perf_counter()
    arch = profile_arch(config, chosen.arch)
    model_dir = out_dir / "train" / f"{config.space}_{table_index(config.space, arch):05d}"
    say(f"training {chosen.arch} on {plan.data} ({plan.epochs} epochs) in {model_dir}")
    trained = _train(chosen.arch, config.space, plan, model_dir, train_progress)
    _check_shipped_setting(model_dir, setting)
    stages["train_s"] = time.perf_counter() - started

    started = time.perf_counter()
    say(f"exporting {', '.join(plan.precisions)}: accuracy on {plan.data}'s test split, latency")
    report = _export(model_dir, out_dir / "export", config, plan, device, chosen, budget_ms)
    stages["export_s"] = time.perf_counter() - started

    result = PipelineResult(
        profile=profile,
        generate=generated,
        setting=setting,
        rank_by_table=rank_by_table,
        data=plan.data,
        train=trained,
        export=report,
        budget_ms=float(budget_ms),
        budget_from_median=from_median,
        summary_path=out_dir / SUMMARY_FILE,
        stages_s=stages,
    )
    write_summary(result)
    return result


def _bare_keys(progress: Callable) -> Callable:
    """The profile's progress callback with store keys shown as architecture strings."""

    def report(done: int, total: int, key: str, row) -> None:
        progress(done, total, split_key(key)[0], row)

    return report


def profile_arch(config: ProfileConfig, text: str):
    """The architecture value of `text` in the profiled space."""
    from hwnas.core.spaces import create_space

    return create_space(config.space).parse(text)


def _train(arch: str, space: str, plan: TrainingPlan, model_dir: Path, progress):
    """Trains (or restores the finished training of) `arch` into `model_dir`."""
    import torch

    from hwnas.jobs.train import TrainJob, train_model
    from hwnas.methods.training.config import TrainConfig

    job = TrainJob(
        out=model_dir,
        arch=arch,
        space=space,
        data=plan.data,
        config=TrainConfig(epochs=plan.epochs, batch_size=plan.batch_size, seed=plan.seed),
        channels=plan.channels,
        cells=plan.cells,
        input_size=plan.input_size,
        torch_device=plan.torch_device,
        force=True,  # the folder is this run's own: other settings retrain it
    )
    threads = torch.get_num_threads()
    if plan.threads is not None:
        torch.set_num_threads(plan.threads)
    try:
        return train_model(job, progress=progress)
    finally:
        torch.set_num_threads(threads)


def _check_shipped_setting(model_dir: Path, profiled: NetworkSetting) -> None:
    """Refuses to ship a trained network other than the one profiled."""
    from hwnas.core.trained import read_spec

    spec, _ = read_spec(model_dir)
    trained = NetworkSetting.of_model(spec)
    if trained != profiled:
        raise PipelineError(
            f"{model_dir}: the trained network ({trained.label}) is not the profiled one "
            f"({profiled.label}); its latency would not be the one predicted"
        )


def _export(model_dir, out_dir, config: ProfileConfig, plan: TrainingPlan, device, chosen, budget):
    from hwnas.jobs.export import ExportJob, ExportSettings, export_model

    settings = ExportSettings(
        precisions=plan.precisions,
        onnx=OnnxExport(exporter=config.exporter),
        timing=config.timing,
        # the profile's threads: the shipped file is timed as the profiled cells were
        intra_op_threads=config.intra_op_threads or PROFILE_THREADS,
        batch_size=config.batch_size,
    )
    job = ExportJob(
        "model",
        model_dir,
        out_dir,
        settings,
        device=device,
        predicted_latency_ms=chosen.predicted_latency_ms,
        budget_ms=budget,
    )
    return export_model(job)


def shipped_files(result: PipelineResult) -> list[dict[str, Any]]:
    """One row per exported file: precision, path, measured top-1 and latency, budget verdict.

    `slower_than_fp32` holds the ratio to the fp32 file's latency where the file is slower.
    """
    report = result.export
    slower = {item.precision: item.ratio for item in report.choice.slower_than_fp32}
    rows = []
    for precision in report.precisions:
        item = report.file(precision)
        accuracy = report.accuracy.of(precision) if report.accuracy else None
        latency = report.latency_ms(precision)
        rows.append(
            {
                "precision": precision,
                "path": str(item.path),
                "top1_percent": None if accuracy is None else accuracy.top1_percent,
                "drop_points": None if accuracy is None else accuracy.drop_points,
                "latency_ms": latency,
                "within_budget": None if latency is None else latency <= result.budget_ms,
                "slower_than_fp32": slower.get(precision),
                "drop_above_max": None
                if accuracy is None
                else accuracy.drop_points > report.choice.max_accuracy_drop_points,
            }
        )
    return rows


def write_summary(result: PipelineResult) -> Path:
    """`summary.json`: the cell, the setting, the budget, training and every shipped file."""
    chosen = result.generate.chosen
    report = result.export
    train = result.train
    summary = {
        "device": result.profile.device,
        "budget_ms": result.budget_ms,
        "budget_from_median": result.budget_from_median,
        "arch": chosen.arch,
        "network": result.setting.to_dict(),
        "rank_by_table": result.rank_by_table,
        "table_accuracy_percent": chosen.accuracy,
        "data": result.data,
        "predicted_latency_ms": chosen.predicted_latency_ms,
        "train": {
            "model_dir": str(train.model_dir),
            "epochs": train.epochs,
            "epochs_run": train.epochs_run,
            "resumed_from": train.resumed_from,
            "val_accuracy": train.val_accuracy,
            "test_accuracy": train.test_accuracy,
            "train_seconds": train.train_seconds,
        },
        "pytorch_top1_percent": None
        if report.accuracy is None
        else report.accuracy.pytorch_top1_percent,
        "files": shipped_files(result),
        "fastest": report.choice.fastest,
        "fastest_within_drop": report.choice.fastest_within_drop,
        "max_accuracy_drop_points": report.choice.max_accuracy_drop_points,
        "stages_s": result.stages_s,
        "report": str(Path(report.onnx_path).parent / "report.json"),
    }
    result.summary_path.parent.mkdir(parents=True, exist_ok=True)
    result.summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return result.summary_path

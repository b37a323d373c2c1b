"""The three jobs in a row for this machine: profile, generate for a budget, train, export.

`hwnas run` ends in a trained, measured engine. The network that ships is the network whose
latency was measured and predicted: the profile times each cell as the deployable network of
the training data (`NetworkSetting`: the data's image shape and classes, the network size,
the preprocessing in the graph), not the NAS-Bench-201 table's 3x32x32 network. The cell is
ranked by a NAS-Bench-201 accuracy table (`rank_by_table`) and trained on the user's data
(`data`): two different things, named apart everywhere.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwnas.core.budget import BudgetError
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
DEFAULT_ATTEMPTS = 3
COMPANIONS = 6
"""Profiled cells timed again beside each shipped file (`_companions`)."""
"""Cells `run_pipeline` trains, exports and times at most before it gives up on the budget."""

EXIT_KEPT = 0
EXIT_ACCURACY_NOT_KEPT = 1
"""`hwnas run`'s exit status when the budget was kept but no file is within the accuracy drop
(or the fp32 file failed its check against PyTorch)."""
EXIT_BUDGET_NOT_KEPT = 5
"""`hwnas run`'s exit status when no shipped fp32 file is within the budget with confidence
(its verdict is "no" or "undecided" after every attempt)."""


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


VERDICT_ORDER = {"yes": 0, "undecided": 1, "no": 2, None: 3}


@dataclass(frozen=True)
class Attempt:
    """One cell chosen, trained, exported and timed for the budget.

    Attributes:
        number: 1 for the first choice.
        arch: The cell.
        predicted_latency_ms: The prediction the choice rested on.
        latency_bound_ms: Its bound at the run's confidence.
        measured_latency_ms: The fp32 file's median latency as the profile measures a cell
            (rounds scaled to the speed anchor); None where it was not timed in rounds.
        raw_latency_ms: The same rounds unscaled.
        ci_low_ms: Lower end of the interval of the median the verdict rests on.
        ci_high_ms: Upper end.
        verdict: ``yes``, ``no`` or ``undecided`` (within the budget with confidence).
        top1_percent: The fp32 file's top-1 on the data's test split; None without one.
        within_drop: Some file is within the accuracy drop and the fp32 file passed its check.
        model_dir: The trained model folder.
        export_dir: The exported files and report.
    """

    number: int
    arch: str
    predicted_latency_ms: float
    latency_bound_ms: float
    measured_latency_ms: float | None
    raw_latency_ms: float | None
    ci_low_ms: float | None
    ci_high_ms: float | None
    verdict: str | None
    top1_percent: float | None
    within_drop: bool
    model_dir: str
    export_dir: str

    @classmethod
    def of(cls, number: int, generated, trained, report) -> Attempt:
        """The attempt of one choice, its training and its export report."""
        details = report.details or {}
        verdict = details.get("budget_verdict") or {}
        raw = details.get("budget_verdict_raw") or {}
        return cls(
            number=number,
            arch=generated.chosen.arch,
            predicted_latency_ms=generated.chosen.predicted_latency_ms,
            latency_bound_ms=generated.chosen.latency_bound_ms,
            measured_latency_ms=verdict.get("median_ms"),
            raw_latency_ms=raw.get("median_ms"),
            ci_low_ms=verdict.get("ci_low_ms"),
            ci_high_ms=verdict.get("ci_high_ms"),
            verdict=verdict.get("verdict"),
            top1_percent=report.accuracy_of("fp32") if report.accuracy else None,
            within_drop=report.file("fp32").passed
            and report.choice.fastest_within_drop is not None,
            model_dir=str(trained.model_dir),
            export_dir=str(Path(report.onnx_path).parent),
        )

    @property
    def kept(self) -> bool:
        """Within the budget with confidence, and within the accuracy drop."""
        return self.verdict == "yes" and self.within_drop

    @property
    def measured_over_predicted(self) -> float | None:
        """How far the measurement came from the prediction (1.0: exactly)."""
        if self.measured_latency_ms is None or self.predicted_latency_ms <= 0:
            return None
        return self.measured_latency_ms / self.predicted_latency_ms

    def better_than(self, other: Attempt) -> bool:
        """Kept first, then the surer verdict, then the lower measured latency."""

        def rank(a: Attempt) -> tuple:
            latency = a.measured_latency_ms if a.measured_latency_ms is not None else float("inf")
            return (not a.kept, VERDICT_ORDER.get(a.verdict, 3), not a.within_drop, latency)

        return rank(self) < rank(other)


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
        attempts: Every cell tried for the budget, in order; ``generate``, ``train`` and
            ``export`` are those of the shipped one (the kept attempt, else the best).
        attempts_max: The bound on attempts (`--attempts`).
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
    attempts: tuple[Attempt, ...] = ()
    attempts_max: int = DEFAULT_ATTEMPTS

    @property
    def shipped(self) -> Attempt | None:
        """The attempt whose files are the answer (the kept one, else the best)."""
        return next((a for a in self.attempts if a.arch == self.generate.chosen.arch), None)

    @property
    def deployable(self) -> bool:
        """The fp32 file passed its checks and some file is within the accuracy drop."""
        report = self.export
        return report.file("fp32").passed and report.choice.fastest_within_drop is not None

    @property
    def budget_kept(self) -> bool:
        """The shipped fp32 file is within the budget with confidence (verdict "yes")."""
        return self.shipped is not None and self.shipped.verdict == "yes"

    @property
    def exit_status(self) -> int:
        """0 kept; `EXIT_BUDGET_NOT_KEPT` (5) or `EXIT_ACCURACY_NOT_KEPT` (1) otherwise."""
        if not self.budget_kept:
            return EXIT_BUDGET_NOT_KEPT
        return EXIT_KEPT if self.deployable else EXIT_ACCURACY_NOT_KEPT


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
    attempts: int = DEFAULT_ATTEMPTS,
) -> PipelineResult:
    """Profiles this machine, picks the best cell within the budget, trains it, exports it.

    Without a budget, the median of the profiled cells' latency bounds is used
    (`median_bound_budget`), so that roughly half of them meet it. `confidence` is passed
    to `generate_for_budget`. A rerun resumes: stored measurements are not timed again, and
    a finished training (same cell, data and settings) is restored from its checkpoint
    rather than run again.

    When the fp32 file's verdict is "no" or "undecided", its measurement joins the profiled
    cells, the latency model is refitted and the next choice is trained and exported, up to
    ``attempts`` cells; the kept attempt (else the best) is the result's answer.

    Files under `out_dir`: `measurements.sqlite` (the store), `latency_ms.csv` (this
    setting's `arch,latency_ms,...`), `onnx/<setting>/` (the timed files), `train/<cell>/`
    (the model folder, checkpoints, log), `export/<cell>/` (the fp32 and int8 files,
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
        attempts: Cells tried at most for the budget (`DEFAULT_ATTEMPTS`).
    """
    import time

    from devices import local_device

    say = stage or (lambda message: None)
    attempts_max = attempts
    if isinstance(attempts_max, bool) or int(attempts_max) != attempts_max or attempts_max < 1:
        raise PipelineError(f"--attempts must be an integer >= 1, got {attempts_max!r}")
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
    store = Path(store_path) if store_path else out_dir / "measurements.sqlite"
    profile = profile_device(
        store,
        config,
        device=device,
        csv_path=out_dir / "latency_ms.csv",
        progress=None if progress is None else _bare_keys(progress),
    )
    stages["profile_s"] = time.perf_counter() - started

    started = time.perf_counter()
    from_median = budget_ms is None
    latencies = dict(profile.latency_ms)
    predictor = fit_latency_predictor(latencies)
    if from_median:
        budget_ms = median_bound_budget(latencies, predictor, confidence)
    stages["generate_s"] = time.perf_counter() - started

    tried: list[Attempt] = []
    shipped = None
    for number in range(1, attempts_max + 1):
        started = time.perf_counter()
        if number > 1:  # the measured file joined the data: refit, choose again
            predictor = fit_latency_predictor(latencies)
        missed = frozenset(arch for arch, ms in latencies.items() if ms > budget_ms)
        again = f" (attempt {number} of {attempts_max})" if number > 1 else ""
        say(
            f"choosing the cell within {budget_ms:.3f} ms that ranks best in NAS-Bench-201's "
            f"{rank_by_table} table{again}"
        )
        try:
            generated = generate_for_budget(
                latencies,
                budget_ms,
                dataset=rank_by_table,
                confidence=confidence,
                predictor=predictor,
                exclude=missed | {a.arch for a in tried},
            )
        except BudgetError:
            if not tried:
                raise
            break  # no cell left to try: the best attempt so far is the answer
        stages["generate_s"] += time.perf_counter() - started
        trained, report = _ship(
            generated.chosen, out_dir, store, profile, config, plan, device, budget_ms,
            say=say, train_progress=train_progress, stages=stages,
        )  # fmt: skip
        attempt = Attempt.of(number, generated, trained, report)
        tried.append(attempt)
        if shipped is None or attempt.better_than(shipped[0]):
            shipped = (attempt, generated, trained, report)
        if attempt.kept:
            break
        if attempt.measured_latency_ms is not None:
            latencies[generated.chosen.arch] = attempt.measured_latency_ms

    attempt, generated, trained, report = shipped
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
        attempts=tuple(tried),
        attempts_max=attempts_max,
    )
    write_summary(result)
    return result


def _ship(chosen, out_dir, store, profile, config, plan, device, budget_ms, *, say, train_progress,
          stages):  # fmt: skip
    """Train the chosen cell (or restore its finished training), export it and time it.

    Returns the training's result and the export report with its verdicts; adds the seconds
    of each stage to ``stages`` (``train_s``, ``export_s``).
    """
    import time

    started = time.perf_counter()
    cell = f"{config.space}_{table_index(config.space, profile_arch(config, chosen.arch)):05d}"
    model_dir = out_dir / "train" / cell
    say(f"training {chosen.arch} on {plan.data} ({plan.epochs} epochs) in {model_dir}")
    trained = _train(chosen.arch, config.space, plan, model_dir, train_progress)
    _check_shipped_setting(model_dir, config.network)
    stages["train_s"] = stages.get("train_s", 0.0) + time.perf_counter() - started
    started = time.perf_counter()
    say(
        f"exporting {', '.join(plan.precisions)}: accuracy on {plan.data}'s test split, "
        "latency timed as the profile times a cell"
    )
    companions = _companions(profile, config, chosen.predicted_latency_ms)
    report = _export(
        model_dir, out_dir / "export" / cell, config, plan, device, chosen, budget_ms, store,
        companions,
    )  # fmt: skip
    stages["export_s"] = stages.get("export_s", 0.0) + time.perf_counter() - started
    return trained, report


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


def _companions(profile: ProfileResult, config: ProfileConfig, near_ms: float):
    """The `COMPANIONS` profiled cells nearest `near_ms`: (store key, timed ONNX file).

    They are timed again beside the shipped file, so that its verdict is in the profile's
    units however the machine's speed moved since (`profilers.verify.time_shipped`).
    """
    import math

    from hwnas.jobs.profile import timed_onnx_path

    if profile.workdir is None or near_ms <= 0:
        return ()
    nearest = sorted(
        (item for item in profile.latency_ms.items() if item[1] > 0),
        key=lambda item: abs(math.log(item[1] / near_ms)),
    )[:COMPANIONS]
    pairs = []
    for text, _ in nearest:
        arch = profile_arch(config, text)
        key = text if config.network is None else config.network.store_key(arch)
        pairs.append((key, timed_onnx_path(profile.workdir, config, arch)))
    return tuple(pairs)


def _export(
    model_dir,
    out_dir,
    config: ProfileConfig,
    plan: TrainingPlan,
    device,
    chosen,
    budget,
    store,
    companions=(),
):
    from hwnas.jobs.export import ExportJob, ExportSettings, export_model

    settings = ExportSettings(
        precisions=plan.precisions,
        onnx=OnnxExport(exporter=config.exporter),
        # the profile's method: its timing, threads, rounds, probe and (through its store)
        # its speed anchor, so that the fp32 file that ships is measured as the cells were
        timing=config.timing,
        intra_op_threads=config.intra_op_threads or PROFILE_THREADS,
        batch_size=config.batch_size,
        rounds=config.rounds,
        store=store,
        verdict_precision="fp32",
        companions=companions,
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
    The file the budget verdict judged (fp32) carries its latency as the profile measures a
    cell (`latency_timed_as`: ``rounds``), its raw median and the verdict; the others one
    window's median (``window``) and no verdict.
    """
    report = result.export
    slower = {item.precision: item.ratio for item in report.choice.slower_than_fp32}
    details = report.details or {}
    judged = details.get("budget_verdict")
    judged_precision = None
    if judged is not None and report.latency_for_budget is not None:
        judged_precision = report.latency_for_budget.precision
    rows = []
    for precision in report.precisions:
        item = report.file(precision)
        accuracy = report.accuracy.of(precision) if report.accuracy else None
        latency, raw, verdict, how = report.latency_ms(precision), None, None, "window"
        factors = {}
        timed = (details.get("file_verdicts") or {}).get(precision)
        if precision == judged_precision or timed is not None:
            timed = timed or {"verdict": judged, "raw_verdict": details.get("budget_verdict_raw")}
            verdict_data = timed["verdict"]
            latency, verdict, how = verdict_data["median_ms"], verdict_data["verdict"], "rounds"
            raw = (timed.get("raw_verdict") or {}).get("median_ms")
            timing = details.get("shipped_timing") or {}
            factors = {
                "speed_factor": timing.get("speed_factor"),
                "profile_factor": timing.get("profile_factor"),
                "companions": len(timing.get("companions") or {}),
            }
        rows.append(
            {
                "precision": precision,
                "path": str(item.path),
                "top1_percent": None if accuracy is None else accuracy.top1_percent,
                "drop_points": None if accuracy is None else accuracy.drop_points,
                "latency_ms": latency,
                "latency_timed_as": how,
                "raw_latency_ms": raw,
                "verdict": verdict,
                **factors,
                "within_budget": {"yes": True, "no": False}.get(verdict),
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
        "budget_kept": result.budget_kept,
        "exit_status": result.exit_status,
        "attempts_max": result.attempts_max,
        "attempts": [
            {**dataclasses.asdict(a), "kept": a.kept, "shipped": a is result.shipped}
            for a in result.attempts
        ],
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

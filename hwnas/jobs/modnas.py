"""`hwnas modnas train`: predictor, accuracy objective, hypernetwork, saved model, evaluation."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hwnas.errors import InputError
from hwnas.methods.modnas import SPACE as MODNAS_SPACE

MODES = ("surrogate", "supernet")


@dataclass(frozen=True)
class ModnasJob:
    """What `train_modnas` does.

    Attributes:
        mode: ``surrogate`` (accuracy from a network fitted on the NB201 table) or ``supernet``
            (a weight-sharing supernet trained on `supernet.data`, bi-level).
        dataset: NAS-Bench-201 dataset of the surrogate and of the evaluation's accuracies.
        predictor: A MetaPredictor model directory to use frozen; None fits one on the
            shipped NB201 latency table (the training devices' columns only).
        devices: Training devices (columns of the NB201 latency table); None: all of them.
        device: Torch device of the supernet (``cpu``, ``cuda``).
        warm_up: Supernet mode: weight steps on uniformly drawn cells before the search (an
            untrained supernet scores every cell at chance, and latency alone would steer).
    """

    mode: str = "surrogate"
    dataset: str = "cifar10"
    predictor: Path | None = None
    devices: tuple[str, ...] | None = None
    device: str = "cpu"
    warm_up: int = 256
    train: object = None
    surrogate: object = None
    supernet: object = None
    fit: object = None
    extra_meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"unknown mode {self.mode!r}; expected one of {MODES}")


def train_modnas(
    job: ModnasJob, out: str | Path, log: Callable[[str], None] = print
) -> tuple[Path, dict]:
    """Train a MODNAS model and write it to `out` with its evaluation.

    Returns:
        The model directory and a summary: timings, the surrogate's fit, and per training
        device the hypervolume of its 24 generated cells against the true front.
    """
    from hwnas.methods.modnas.evaluate import evaluate_device, latency_ratio_quantiles, plot_fronts
    from hwnas.methods.modnas.model import load_modnas_model, save_modnas_model
    from hwnas.methods.modnas.objectives import PredictedHardware, SurrogateConfig, fit_surrogate
    from hwnas.methods.modnas.train import DeviceObjectives, TrainConfig, train_hypernetwork
    from hwnas.methods.predictor import FitConfig, fit_model, load_model
    from hwnas.methods.predictor_data import load_table

    out = Path(out)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    if job.predictor is not None:
        predictor = load_model(job.predictor)
        source = str(job.predictor)
    else:
        log("fitting the MetaPredictor on the NB201 latency table")
        predictor = fit_model(
            MODNAS_SPACE, load_table(MODNAS_SPACE), job.fit or FitConfig(), job.devices
        )
        source = "fitted by hwnas modnas train"
    if predictor.space != MODNAS_SPACE or predictor.target != "latency_ms":
        raise InputError(
            f"MODNAS needs an NB201 latency predictor, got {predictor.space} {predictor.target}"
        )
    seconds["predictor"] = time.perf_counter() - start
    names = list(job.devices or predictor.training_devices)
    unknown = [n for n in names if n not in predictor.training_devices]
    if unknown:
        raise InputError(
            f"the predictor was not trained on {unknown}; it knows "
            f"{', '.join(predictor.training_devices)}"
        )
    devices = [
        DeviceObjectives(
            n,
            predictor.training_devices[n].array,
            [PredictedHardware(predictor.members, predictor.training_devices[n])],
        )
        for n in names
    ]

    start = time.perf_counter()
    surrogate, surrogate_meta = None, None
    if job.mode == "surrogate":
        config = job.surrogate or SurrogateConfig(dataset=job.dataset)
        surrogate, report = fit_surrogate(config)
        accuracy = surrogate
        surrogate_meta = {**asdict(config), "accuracy_range": list(surrogate.accuracy_range)}
        surrogate_meta["fit"] = report
        log(
            f"accuracy surrogate: held-out Spearman {report['held_out_spearman']:.3f}, "
            f"mean error {report['held_out_mae_points']:.2f} points"
        )
    else:
        from hwnas.methods.modnas.supernet import SupernetAccuracy, SupernetConfig

        accuracy = SupernetAccuracy(job.supernet or SupernetConfig(), device=job.device)
        log(f"supernet warm-up: {job.warm_up} weight steps on uniformly drawn cells")
        accuracy.warm_up(job.warm_up)
    seconds["accuracy"] = time.perf_counter() - start

    train_config = job.train or TrainConfig()

    def progress(step: int, record: dict) -> None:
        if step % max(train_config.steps // 10, 1) == 0:
            log(f"step {step}/{train_config.steps}: loss {record['loss']:.4f}")

    result = train_hypernetwork(accuracy, devices, train_config, progress)
    seconds["hypernetwork"] = result.seconds
    hyper = result.hypernetwork
    meta = {
        "space": MODNAS_SPACE,
        "mode": job.mode,
        "dataset": job.dataset,
        "objectives": [f"error:{job.dataset}", "latency_ms"],
        "hypernetwork": {
            "n_objectives": hyper.n_objectives,
            "embedding_dim": hyper.embedding_dim,
            "hidden": hyper.hidden,
            "bound": hyper.bound,
        },
        "train": asdict(train_config),
        "training_devices": names,
        "predictor_source": source,
        "seconds": seconds,
        "history": result.history,
        **job.extra_meta,
    }
    meta["predictor_error"] = latency_ratio_quantiles(predictor, names)
    if surrogate_meta is not None:
        meta["surrogate"] = surrogate_meta
    if job.mode == "supernet":
        meta["supernet"] = accuracy.config.to_dict()
    save_modnas_model(out, meta, hyper, predictor, surrogate)
    if job.mode == "supernet":
        from hwnas.methods.modnas.supernet import save_supernet

        save_supernet(accuracy, out / "supernet")
        log(f"supernet weights: {out / 'supernet'} (hwnas train --init-from)")

    model = load_modnas_model(out)
    fronts = [evaluate_device(model, n, predictor.training_devices[n]) for n in names]
    plot_fronts(fronts, out / "fronts.png", job.dataset)
    summary = {
        "seconds": seconds,
        "surrogate": surrogate_meta["fit"] if surrogate_meta else None,
        "devices": {
            f.device: {
                "hypervolume": f.hypervolume,
                "true_hypervolume": f.true_hypervolume,
                "ratio": f.ratio,
                "distinct_cells": int(len(set(f.codes.tolist()))),
            }
            for f in fronts
        },
    }
    (out / "evaluation.json").write_text(json.dumps(summary, indent=2) + "\n")
    return out, summary


def table_devices() -> Sequence[str]:
    """The device columns of the shipped NB201 latency table."""
    from hwnas.core.tables import load_latency_table

    return load_latency_table("nb201").columns

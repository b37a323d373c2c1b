"""The `hwnas nes search` job: pool, selection, deep-ensemble baseline, metrics, diagram.

It writes to its output folder:

- ``pool/<id>/``: every trained network of the search (`hwnas.methods.nes.pool`), and with a budget
  on timed members its ``model.onnx`` and ``latency.json`` (`hwnas.methods.nes.latency`);
- ``baseline/<id>/``: the deep ensemble's retrained seeds;
- ``ensemble.json`` and ``deep_ensemble.json``: the selected ensemble and the baseline, as
  ``{"space", "num_classes", "input_shape", "members": [paths relative to the folder],
  "weights", "selection"}`` (read by `hwnas.methods.nes.ensemble.load_ensemble`);
- ``search.json``: the settings, the pool with each member's metrics, NES-RE's iterations;
- ``metrics.json``: NLL, error, ECE, oracle NLL and mean member NLL of both ensembles on the
  test split, and under each corruption at each severity (and averaged over corruptions);
  with a latency budget, the budget, the ensemble's summed latency and its source;
- ``reliability.png``: the reliability diagram of both ensembles on the test split.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwnas.core.datasets import Dataset
from hwnas.core.serialize import to_json
from hwnas.errors import InputError
from hwnas.methods.nes.latency import MeasureConfig
from hwnas.methods.nes.pool import PoolData, PoolMember, split_validation
from hwnas.methods.nes.search import NesConfig, deep_ensemble, run_search, valid_probs
from hwnas.methods.nes.selection import (
    Selection,
    forward_select,
    member_latencies_ms,
    predicted_latencies_ms,
)
from hwnas.methods.nes.train import TrainConfig


@dataclass(frozen=True)
class LatencyBudget:
    """Selection under a budget on the members' summed latency.

    The latencies come from exactly one source: a table measured per architecture, a
    MetaPredictor (which ranks the architectures by their standard-size networks' latency on
    a device), or timing the pool's own networks on a device (`hwnas.methods.nes.latency`).

    Attributes:
        budget_ms: The largest summed latency of the ensemble's members.
        latency_by_arch: Measured latency (ms) per architecture string.
        predictor_dir: A MetaPredictor model directory (`hwnas predictor fit`) to predict with.
        device: The predictor's training device to predict for (None: its adapted device).
        measure: Time every pool member's ONNX file with these settings.
    """

    budget_ms: float
    latency_by_arch: Mapping[str, float] | None = None
    predictor_dir: str | Path | None = None
    device: str | None = None
    measure: MeasureConfig | None = None

    def __post_init__(self) -> None:
        if not self.budget_ms > 0:
            raise InputError(f"the latency budget must be positive, got {self.budget_ms} ms")
        sources = (self.latency_by_arch, self.predictor_dir, self.measure)
        if sum(source is not None for source in sources) != 1:
            raise InputError(
                "a latency budget needs exactly one latency source: measured latencies "
                "(--latencies CSV), a predictor (--predictor DIR with --device NAME), or "
                "timing the members (--measure-on DEVICE)"
            )

    @property
    def source(self) -> str:
        if self.measure is not None:
            return "members timed"
        return "measured" if self.predictor_dir is None else "metapredictor"

    def latencies_ms(self, pool: Sequence[PoolMember], space: str, pool_dir: Path) -> list[float]:
        """Each pool member's latency: looked up, predicted or timed."""
        if self.measure is not None:
            from hwnas.methods.nes.latency import measure_member_latencies

            return measure_member_latencies([pool_dir / m.id for m in pool], self.measure)
        archs = [m.spec.arch for m in pool]
        table = self.latency_by_arch
        if table is None:
            table = predicted_latencies_ms(archs, self.predictor_dir, self.device, space)
        return member_latencies_ms(archs, table)

    def to_dict(self) -> dict:
        measure = None
        if self.measure is not None:
            measure = self.measure.key()
        return {
            "budget_ms": self.budget_ms,
            "source": self.source,
            "predictor_dir": None if self.predictor_dir is None else str(self.predictor_dir),
            "device": self.device,
            "measure": measure,
        }


@dataclass(frozen=True)
class ShiftConfig:
    """The corruptions evaluated; an empty `corruptions` skips evaluation under shift."""

    corruptions: tuple[str, ...] | None = None
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    seed: int = 0

    def __post_init__(self) -> None:
        from hwnas.methods.nes.shift import SEVERITIES, list_corruptions

        unknown = [name for name in self.corruptions or () if name not in list_corruptions()]
        if unknown:
            raise InputError(
                f"unknown corruption(s) {', '.join(unknown)}; known: "
                f"{', '.join(list_corruptions())}"
            )
        if not self.severities or not set(self.severities) <= set(SEVERITIES):
            raise InputError(f"severities must be among {SEVERITIES}, got {self.severities}")

    def names(self) -> tuple[str, ...]:
        from hwnas.methods.nes.shift import list_corruptions

        return tuple(list_corruptions()) if self.corruptions is None else self.corruptions


@dataclass(frozen=True)
class NesJob:
    """What the job does beyond the search itself."""

    valid_fraction: float = 0.2
    max_train: int | None = None
    backend: str = "local"
    baseline: bool = True
    latency: LatencyBudget | None = None
    shift: ShiftConfig = field(default_factory=ShiftConfig)


def _json(path: Path, value) -> Path:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
    return path


def write_ensemble(
    out_dir: Path,
    name: str,
    members: Sequence[str],
    weights: Sequence[int],
    data: PoolData,
    space: str,
    selection: dict,
) -> Path:
    """Writes ``<out_dir>/<name>``, the ensemble description `load_ensemble` reads."""
    return _json(
        out_dir / name,
        {
            "space": space,
            "num_classes": data.num_classes,
            "input_shape": list(data.input_shape),
            "members": list(members),
            "weights": [int(w) for w in weights],
            "selection": selection,
        },
    )


def _evaluate(
    ensembles: dict[str, tuple[list[Path], list[int]]],
    stored_test: dict[str, np.ndarray],
    data: PoolData,
    shift: ShiftConfig,
) -> dict:
    """Metrics of each ensemble (member dirs, weights) in distribution and under shift."""
    from hwnas.methods.nes.metrics import ensemble_metrics
    from hwnas.methods.nes.pool import load_member
    from hwnas.methods.nes.shift import corrupt
    from hwnas.methods.nes.train import predict_proba

    y = data.test.y

    def probs(paths, by_path: dict[str, np.ndarray]) -> np.ndarray:
        return np.stack([by_path[str(path)] for path in paths])

    result: dict = {
        "in_distribution": {
            name: ensemble_metrics(probs(paths, stored_test), y, weights)
            for name, (paths, weights) in ensembles.items()
        }
    }
    names = shift.names()
    if not names:
        return result
    modules = {
        str(p): load_member(p)[1] for paths, _ in ensembles.values() for p in paths
    }  # fmt: skip
    value_range = (float(data.test.x.min()), float(data.test.x.max()))
    per_corruption: dict = {}
    for corruption in names:
        per_corruption[corruption] = {}
        for severity in shift.severities:
            x = corrupt(data.test.x, corruption, severity, shift.seed, value_range)
            shifted = {key: predict_proba(module, x) for key, module in modules.items()}
            per_corruption[corruption][str(severity)] = {
                name: ensemble_metrics(probs(paths, shifted), y, weights)
                for name, (paths, weights) in ensembles.items()
            }
    mean: dict = {}
    for severity in map(str, shift.severities):
        mean[severity] = {
            name: {
                key: float(np.mean([per_corruption[c][severity][name][key] for c in names]))
                for key in ("nll", "error", "ece", "oracle_nll", "mean_member_nll")
            }
            for name in ensembles
        }
    result["shift"] = per_corruption
    result["shift_mean_over_corruptions"] = mean
    result["shift_settings"] = {
        "corruptions": list(names),
        "severities": list(shift.severities),
        "seed": shift.seed,
        "value_range": list(value_range),
    }
    return result


def _selection_record(selection: Selection, pool: Sequence[PoolMember], config: NesConfig):
    return {
        "method": "forward step-wise selection on validation NLL (Caruana et al., 2004)",
        "algorithm": config.algorithm,
        "replace": config.replace,
        "picks": [pool[i].id for i in selection.picks],
        "valid_nll": list(selection.valid_nll),
        "latency_ms": selection.latency_ms,
    }


def nes_search_job(
    config: NesConfig,
    dataset: Dataset,
    train_config: TrainConfig,
    out_dir: str | Path,
    job: NesJob | None = None,
    on_member: Callable[[PoolMember, bool], None] | None = None,
) -> dict:
    """Runs NES and writes its folder (see the module docstring).

    Returns the summary dict, also written to ``metrics.json``.
    """
    from hwnas.methods.nes.metrics import ensemble_probs
    from hwnas.methods.nes.reliability import plot_reliability

    job = job or NesJob()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = split_validation(dataset, job.valid_fraction, config.seed, job.max_train)
    search = run_search(config, data, train_config, out_dir / "pool", job.backend, on_member)
    pool = search.pool
    latencies = budget = None
    if job.latency is not None:
        latencies = job.latency.latencies_ms(pool, config.space, out_dir / "pool")
        budget = job.latency.budget_ms
    selection = forward_select(
        valid_probs(pool),
        data.valid.y,
        config.ensemble_size,
        config.replace,
        latencies,
        budget,
        names=[m.id for m in pool],
    )
    record = _selection_record(selection, pool, config)
    if job.latency is not None:
        record["latency"] = {**job.latency.to_dict(), "member_latency_ms": latencies}
    nes_members = [pool[i] for i in selection.members]
    write_ensemble(
        out_dir,
        "ensemble.json",
        [f"pool/{m.id}" for m in nes_members],
        selection.weights,
        data,
        config.space,
        record,
    )
    ensembles = {"nes": ([out_dir / "pool" / m.id for m in nes_members], list(selection.weights))}
    stored = {str(out_dir / "pool" / m.id): m.predictions["test"] for m in pool}
    if job.baseline:
        members = deep_ensemble(
            pool,
            config.ensemble_size,
            data,
            train_config,
            out_dir / "baseline",
            config.seed,
            job.backend,
            on_member,
        )
        paths = [f"pool/{members[0].id}"] + [f"baseline/{m.id}" for m in members[1:]]
        de_record = {
            "method": "deep ensemble: the pool's best network by validation NLL and "
            f"{len(members) - 1} retrainings of its architecture with new seeds",
            "arch": members[0].spec.arch,
            "seeds": [m.spec.seed for m in members],
            "latency_budget": "not applied: the baseline is the same size M as the ensemble",
        }
        write_ensemble(
            out_dir, "deep_ensemble.json", paths, [1] * len(paths), data, config.space, de_record
        )
        stored.update({str(out_dir / p): m.predictions["test"] for p, m in zip(paths, members)})
        ensembles["deep_ensemble"] = ([out_dir / p for p in paths], [1] * len(paths))
    metrics = _evaluate(ensembles, stored, data, job.shift)
    test_probs = {
        name: (ensemble_probs(np.stack([stored[str(p)] for p in paths]), weights), data.test.y)
        for name, (paths, weights) in ensembles.items()
    }
    plot_reliability(
        test_probs, out_dir / "reliability.png", title=f"Reliability on {dataset.name} (test)"
    )
    summary = {
        "dataset": dataset.name,
        "images": {"train": len(data.train), "valid": len(data.valid), "test": len(data.test)},
        "ensemble_size": config.ensemble_size,
        **metrics,
    }
    if job.latency is not None:
        summary["latency"] = {
            "budget_ms": job.latency.budget_ms,
            "ensemble_ms": selection.latency_ms,
            "source": job.latency.source,
        }
    _json(
        out_dir / "search.json",
        {
            "config": config.record(),
            "train": to_json(train_config, versioned=False),
            "backend": job.backend,
            "valid_fraction": job.valid_fraction,
            "pool": [
                {"id": m.id, "arch": m.spec.arch, "seed": m.spec.seed, **_brief(m.metrics)}
                for m in pool
            ],
            "history": list(search.history),
        },
    )
    _json(out_dir / "metrics.json", summary)
    return summary


def _brief(metrics: dict) -> dict:
    keys = ("valid_nll", "valid_error", "test_nll", "test_error", "train_seconds", "parameters")
    return {k: metrics.get(k) for k in keys}

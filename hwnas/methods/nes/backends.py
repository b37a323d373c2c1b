"""Where pool members train: one after the other in this process, or as Ray tasks.

Either way the member is saved by this process (`save_member`, atomic) as soon as it is
trained, so an interrupted build keeps every member that finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.core.serialize import from_json, to_json
from hwnas.errors import UnavailableError
from hwnas.methods.nes.member import MemberSpec, PoolData, build_member, save_member
from hwnas.methods.nes.metrics import error, nll
from hwnas.methods.nes.train import TrainConfig, predict_proba, train_member


class RayUnavailableError(UnavailableError):
    """The Ray backend was asked for but ray is not installed."""


def _train(spec: MemberSpec, data: PoolData, config: TrainConfig) -> tuple[Any, dict, dict]:
    """(trained network, predictions by split, metrics) of one member."""
    module = build_member(spec)
    started = time.perf_counter()
    losses = train_member(module, data.train, config, spec.seed)
    seconds = time.perf_counter() - started
    predictions = {
        "valid": predict_proba(module, data.valid.x),
        "test": predict_proba(module, data.test.x),
    }
    metrics = {
        "train_seconds": seconds,
        "train_losses": losses,
        "parameters": int(sum(p.numel() for p in module.parameters())),
        "valid_nll": nll(predictions["valid"], data.valid.y),
        "valid_error": error(predictions["valid"], data.valid.y),
        "test_nll": nll(predictions["test"], data.test.y),
        "test_error": error(predictions["test"], data.test.y),
    }
    if not np.isfinite(metrics["valid_nll"]) or not all(np.isfinite(losses)):
        metrics["diverged"] = True
    return module, predictions, metrics


def train_and_save(spec: MemberSpec, data: PoolData, config: TrainConfig, out_dir: Path) -> None:
    """Trains `spec` here and saves it to ``out_dir/<id>``."""
    module, predictions, metrics = _train(spec, data, config)
    save_member(out_dir / spec.id, spec, module, metrics, predictions, config, data.fingerprint)


def ray_task(spec: dict, data: PoolData, config: dict) -> dict:
    """On a Ray worker: trains one member.

    Returns its weights (safetensors bytes), predictions and metrics.
    """
    import torch
    from safetensors.torch import save

    torch.set_num_threads(1)
    spec_value = MemberSpec.from_dict(spec)
    train_config = from_json(TrainConfig, config, source="training settings")
    module, predictions, metrics = _train(spec_value, data, train_config)
    state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    return {
        "id": spec_value.id,
        "state": save(state),
        "predictions": predictions,
        "metrics": metrics,
    }


def import_ray():
    """The ray module, or an error saying how to install it."""
    try:
        import ray
    except ImportError as err:
        raise RayUnavailableError(
            f"the ray backend needs the ray package ({err}); install it with "
            "pip install 'hwnas[ray]', or use --backend local"
        ) from None
    return ray


def train_on_ray(
    specs: Sequence[MemberSpec],
    data: PoolData,
    config: TrainConfig,
    out_dir: Path,
    arrived: Callable[[MemberSpec], None],
) -> None:
    """One Ray task per member (``num_cpus=1``), saved here in the order they finish.

    Uses the running Ray instance (``ray.init`` already called or ``RAY_ADDRESS`` set), or
    starts a local one.
    """
    from safetensors.torch import load

    ray = import_ray()
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=1)(ray_task)
    data_ref = ray.put(data)
    by_id = {spec.id: spec for spec in specs}
    pending = [task.remote(spec.to_dict(), data_ref, to_json(config)) for spec in specs]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        result = ray.get(ready[0])
        spec = by_id[result["id"]]
        module = build_member(spec)
        module.load_state_dict(load(result["state"]), strict=True)
        save_member(
            out_dir / spec.id,
            spec,
            module,
            result["metrics"],
            result["predictions"],
            config,
            data.fingerprint,
        )
        arrived(spec)

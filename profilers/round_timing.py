"""One round on the machine that times: wait for quiet, probe, time the model, probe, host state.

Every target (this process, an SSH board's worker, a Ray task) times a round with
``timed_round``, so the probe and the host state are taken where the model runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from profilers.energy.base import EnergyMeter
from profilers.hoststate import host_state, read_cpu_times
from profilers.probe import DisturbanceProbe
from profilers.runtimes.base import Runtime
from profilers.stats import LatencyStats
from profilers.timing import TimingConfig


def timed_round(
    path: str | Path | Any,
    runtime: Runtime,
    timing: TimingConfig,
    batch_size: int = 1,
    *,
    seed: int = 0,
    energy_meter: EnergyMeter | None = None,
    probe: DisturbanceProbe | None = None,
    placement: dict[str, Any] | None = None,
) -> tuple[LatencyStats, dict[str, Any]]:
    """Time one round of a model beside the probe; return its statistics and run description.

    ``path`` is an ONNX file, or for PyTorch runtimes (``model_format == "torch"``, the CUDA
    runtimes among them) a ``TorchModel``, whose probe is then the PyTorch one (a replayed
    CUDA graph on ``torch-cudagraph``).

    Returns:
        ``profile_onnx``'s statistics and run description, with ``round``: the probe windows
        before and after (ms), the quiet baseline, their ratio, whether it was ``disturbed``,
        the seconds waited for quiet, and ``host_state`` (``HostState.to_dict()``); and
        ``placement`` (threads, pinned CPUs, oversubscription) where given.
    """
    from profilers.profile import profile_onnx

    cpu_before = read_cpu_times()
    waited_s = 0.0
    before = after = gate = None
    if probe is not None:
        waited_s = probe.wait_for_quiet()
        before = probe.window_ms()
        gate = probe.gate()
    if runtime.model_format == "torch":
        from profilers.profile import profile_session

        with runtime.load(path) as session:
            stats, info = profile_session(
                session, timing, batch_size, seed=seed, energy_meter=energy_meter, gate=gate
            )
        info = {"runtime": runtime.describe(), "model": getattr(path, "name", str(path)), **info}
    else:
        stats, info = profile_onnx(
            path, runtime, timing, batch_size, seed=seed, energy_meter=energy_meter, gate=gate
        )
    round_info: dict[str, Any] = {"waited_s": round(waited_s, 3)}
    if probe is not None:
        round_info["busy_after_wait"] = probe.busy_after_wait
    if probe is not None:
        after = probe.window_ms()
        ratio = max(before, after) / probe.baseline_ms
        round_info |= {
            "probe_ms": [before, after],
            "probe_baseline_ms": probe.baseline_ms,
            "probe_ratio": ratio,
            "probe_threshold": probe.config.threshold,
            "disturbed": disturbed_round(ratio, probe.config.threshold, gate),
        }
        if gate is not None:
            round_info["gate"] = gate.to_dict()
    else:
        round_info |= {"probe_ms": None, "disturbed": False, "probe_reason": "no probe asked"}
    round_info["host_state"] = host_state(cpu_before).to_dict()
    info["round"] = round_info
    if placement is not None:
        info["placement"] = dict(placement)
    return stats, info


def disturbed_round(ratio: float, threshold: float, gate: Any = None) -> bool:
    """Whether a round is disturbed: by its gate where it had one, else by its probe windows.

    A gated round's median rests on the runs between quiet looks, so it is disturbed only
    when those were fewer than the timing's ``min_runs`` within its time cap (its median then
    rests on every run); an ungated one when a probe window beside it ran over the threshold.
    """
    enough = gate.get("enough") if isinstance(gate, dict) else getattr(gate, "enough", None)
    if enough is not None:
        return not enough
    return ratio > threshold

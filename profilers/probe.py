"""The disturbance probe: a fixed reference workload timed beside each round.

The probe is a small fixed network (three 3x3 convolutions of 16 channels on a 16x16 input,
seeded weights), loaded by the campaign's own runtime with the same threads, so that it
feels what the cells feel. Before and after each round it is timed for a short window; the
window's median over the quiet baseline is the round's ``probe_ratio``. The quiet baseline
is a low percentile of the windows seen (`quiet_baseline`), not the fastest one: the fastest
window of a campaign is its luckiest, and on the 2-core VM a threshold of 1.25x the fastest
window lay only 1.1x above the median window, so a quiet campaign marked 10-25 % of its
rounds disturbed. A round whose ratio exceeds ``ProbeConfig.threshold`` is disturbed. Before
a round the probe also waits, within bounds, for the machine to be quiet again.

ONNX runtimes load the probe as an ONNX file; PyTorch runtimes as a module, so on a GPU
``torch-cudagraph`` replays it as a CUDA graph timed with CUDA events.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from profilers.errors import ConfigError
from profilers.timing import Timer

PROBE_CHANNELS = 16
PROBE_SIZE = 16
PROBE_LAYERS = 3
PROBE_SEED = 20260101
PROBE_OPSET = 17


@dataclass(frozen=True)
class ProbeConfig:
    """How the probe is timed and when a round counts as disturbed.

    Attributes:
        runs: Timed runs per probe window (their median is the window's time).
        threshold: A round is disturbed when a probe window beside it is slower than this
            multiple of the quiet baseline.
        calibration_windows: Windows timed when the probe opens; their low percentile is the
            first baseline (later windows join it).
        calibration_s: ... and for at least this long, so that a slow spell of a few tens
            of milliseconds cannot hold the whole calibration.
        baseline_percentile: The percentile of the windows seen that is the quiet baseline
            (0: the fastest window).
        gate_interval_s: Inside a round, the probe looks at the machine this often between
            the model's timed runs (a burst of ``gate_runs`` probe runs), and only the runs
            between two quiet looks count (`profilers.timing.time_callable`'s gate); 0 turns
            the gate off. Slow spells on the 2-core VM last from a few to a few hundred
            milliseconds, slowing small cells by up to 1.6x: before and after windows alone
            let a spell inside the round move its median.
        gate_runs: Probe runs per look (their median is compared).
        gate_min_looks: A gated timing converges no sooner than after this many looks, so
            that it spans several spells' length (8 looks at 2 ms: at least 16 ms).
        gate_threshold: A look is quiet when its median is within this multiple of the
            quiet looks' baseline: the ``baseline_percentile`` of the looks so far once there
            are ``GATE_OWN_BASELINE`` of them, and at most ``GATE_COLD`` times the windows'
            baseline (a burst of 5 runs right after the model's runs is about 5 % slower
            than a warm window).
        max_wait_s: Longest wait for quiet before one round.
        max_total_wait_s: Longest wait for quiet over a whole campaign.
        wait_step_s: Pause between two looks at the probe while waiting.
    """

    runs: int = 20
    threshold: float = 1.25
    calibration_windows: int = 10
    calibration_s: float = 0.25
    baseline_percentile: float = 10.0
    gate_interval_s: float = 0.002
    gate_runs: int = 5
    gate_min_looks: int = 8
    gate_threshold: float = 1.1
    max_wait_s: float = 1.0
    max_total_wait_s: float = 15.0
    wait_step_s: float = 0.25

    def __post_init__(self) -> None:
        for name in ("runs", "calibration_windows", "gate_runs", "gate_min_looks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"ProbeConfig.{name} must be an integer >= 1, got {value!r}")
        if not 0 <= self.baseline_percentile <= 50:
            raise ConfigError(
                "ProbeConfig.baseline_percentile must be in [0, 50] (a low percentile of the "
                f"windows), got {self.baseline_percentile!r}"
            )
        for name in (
            "threshold",
            "max_wait_s",
            "max_total_wait_s",
            "wait_step_s",
            "calibration_s",
            "gate_interval_s",
            "gate_threshold",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"ProbeConfig.{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"ProbeConfig.{name} must be finite and >= 0, got {value!r}")
        if self.gate_threshold <= 1:
            raise ConfigError(
                f"ProbeConfig.gate_threshold must be > 1 (a multiple of the quiet time), "
                f"got {self.gate_threshold}"
            )
        if self.threshold <= 1:
            raise ConfigError(
                f"ProbeConfig.threshold must be > 1 (a multiple of the quiet time), "
                f"got {self.threshold}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProbeConfig:
        """Build a config from ``to_dict`` output; missing keys take their defaults."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"ProbeConfig.from_dict: unknown keys {unknown}")
        return cls(**dict(data))


def quiet_baseline(windows_ms, percentile: float = 10.0) -> float:
    """The quiet probe time: the ``percentile`` of the windows (0 is the fastest window).

    Windows are taken in a campaign's quiet and slow spells alike; a low percentile stays in
    the quiet ones while the campaign is mostly quiet, and is not moved by one lucky window.
    """
    values = np.asarray(list(windows_ms), dtype=np.float64)
    if values.size == 0:
        raise ValueError("quiet_baseline() needs at least one window")
    return float(np.percentile(values, percentile))


class DisturbanceProbe:
    """Times the reference workload in windows and keeps the quiet baseline.

    Args:
        run: One run of the probe workload (its inputs already placed).
        timer: Times one run (the probe session's own timer).
        config: Window length, threshold and waiting bounds.
        clock: Monotonic nanoseconds, for the waiting bounds (tests pass a fake one).
        sleep: Pauses while waiting (tests pass a fake one).
        baseline_ms: A baseline known from before (e.g. from other Ray tasks); None
            calibrates one on the first use.
        close: Releases the probe's session.
    """

    def __init__(
        self,
        run: Callable[[], object],
        timer: Timer,
        config: ProbeConfig | None = None,
        *,
        clock: Callable[[], int] = time.perf_counter_ns,
        sleep: Callable[[float], None] = time.sleep,
        baseline_ms: float | None = None,
        close: Callable[[], None] | None = None,
    ) -> None:
        self.config = config or ProbeConfig()
        self._run = run
        self._timer = timer
        self._clock = clock
        self._sleep = sleep
        self._close = close
        self.baseline_ms = baseline_ms
        self.windows_ms: list[float] = [] if baseline_ms is None else [baseline_ms]
        self.looks_ms: list[float] = []  # the gate's bursts (`ProbeGate`), in their own units
        self.waited_total_s = 0.0
        self.busy_after_wait = False

    def window_ms(self, *, keep: bool = True) -> float:
        """Time one window (after one untimed run) and return its median in ms.

        ``keep=False`` leaves the window out of the baseline (the windows of a wait for
        quiet, taken because the machine was slow, would lift it in a long busy spell).
        """
        self._timer.time_ns(self._run)
        samples = [self._timer.time_ns(self._run) for _ in range(self.config.runs)]
        ms = float(np.median(samples)) / 1e6
        if keep or self.baseline_ms is None:
            self.windows_ms.append(ms)
            self.baseline_ms = quiet_baseline(self.windows_ms, self.config.baseline_percentile)
        return ms

    def calibrate(self) -> float:
        """Time ``calibration_windows`` windows; return the baseline (`quiet_baseline`)."""
        end = self._clock() + int(self.config.calibration_s * 1e9)
        done = 0
        while done < self.config.calibration_windows or self._clock() < end:
            self.window_ms()
            done += 1
        assert self.baseline_ms is not None
        return self.baseline_ms

    def ratio(self, window_ms: float) -> float:
        """Return ``window_ms`` over the quiet baseline."""
        if self.baseline_ms is None:
            self.calibrate()
        assert self.baseline_ms is not None
        return window_ms / self.baseline_ms if self.baseline_ms > 0 else 1.0

    def wait_for_quiet(self) -> float:
        """Wait until a window is within the threshold, within the bounds; return seconds waited.

        Returns at once when the machine is quiet or the campaign's wait budget is spent.
        Afterwards ``busy_after_wait`` says whether it waited and the probe was still slow
        when the bound ended the wait: one slow window is a blip, a whole wait of them is a
        busy machine.
        """
        if self.baseline_ms is None:
            self.calibrate()
        start = self._clock()
        limit_s = min(self.config.max_wait_s, self.config.max_total_wait_s - self.waited_total_s)
        waited_s = 0.0
        while (
            slow := self.ratio(self.window_ms(keep=False)) > self.config.threshold
        ) and waited_s < limit_s:
            self._sleep(min(self.config.wait_step_s, max(0.0, limit_s - waited_s)))
            waited_s = (self._clock() - start) / 1e9
        self.waited_total_s += waited_s
        self.busy_after_wait = waited_s > 0 and slow
        return waited_s

    def gate(self) -> ProbeGate | None:
        """A fresh gate for one round's timed runs, or None where the gate is off."""
        if self.config.gate_interval_s <= 0:
            return None
        if self.baseline_ms is None:
            self.calibrate()
        return ProbeGate(self)

    def close(self) -> None:
        """Release the probe's session; idempotent."""
        close, self._close = self._close, None
        if close is not None:
            close()


GATE_OWN_BASELINE = 20
"""Looks of the gate after which their own low percentile is their baseline."""
GATE_COLD = 1.08
"""At most this multiple of the windows' baseline is the looks' baseline (a look of 5 runs
right after the model's runs measured about 1.05x a warm window on the 2-core VM)."""
GATE_MIN_SHARE = 0.25
"""A gated timing goes on (within its time cap) while its quiet runs are fewer than this share
of its runs, and a round that ends so is disturbed: the quiet looks inside a mostly slow round
were seen to pass slow runs."""


class ProbeGate:
    """One round's gate (`profilers.timing.Gate`): bursts of probe runs against the baseline.

    Args:
        probe: The round's probe (its baseline, run and timer).
    """

    def __init__(self, probe: DisturbanceProbe) -> None:
        self.probe = probe
        self.interval_ns = int(probe.config.gate_interval_s * 1e9)
        self.min_looks = probe.config.gate_min_looks
        self.min_share = GATE_MIN_SHARE
        self.looks = 0
        self.quiet_looks = 0
        self.kept_runs: int | None = None
        self.timed_runs: int | None = None
        self.enough: bool | None = None

    def quiet(self) -> bool:
        """Time one burst of the probe; True when its median is within the gate threshold."""
        probe = self.probe
        samples = [probe._timer.time_ns(probe._run) for _ in range(probe.config.gate_runs)]
        ms = float(np.median(samples)) / 1e6
        probe.looks_ms.append(ms)
        reference = GATE_COLD * probe.baseline_ms
        if len(probe.looks_ms) >= GATE_OWN_BASELINE:
            own = quiet_baseline(probe.looks_ms, probe.config.baseline_percentile)
            reference = min(own, reference)  # a long slow spell does not lift it
        quiet = ms <= probe.config.gate_threshold * reference
        self.looks += 1
        self.quiet_looks += quiet
        return quiet

    def record(self, kept: int, timed: int, enough: bool) -> None:
        """Keep the count of the model's runs kept and timed, and whether they were enough.

        Enough also needs ``GATE_MIN_SHARE`` of the runs kept.
        """
        self.kept_runs, self.timed_runs = kept, timed
        self.enough = enough and timed > 0 and kept / timed >= GATE_MIN_SHARE

    @property
    def kept_share(self) -> float | None:
        """The share of the timed runs that lay between quiet looks."""
        if not self.timed_runs:
            return None
        return (self.kept_runs or 0) / self.timed_runs

    def to_dict(self) -> dict[str, Any]:
        """What the gate saw, as JSON data."""
        return {
            "looks": self.looks,
            "quiet_looks": self.quiet_looks,
            "kept_runs": self.kept_runs,
            "timed_runs": self.timed_runs,
            "kept_share": self.kept_share,
            "enough": self.enough,
            "interval_s": self.probe.config.gate_interval_s,
            "threshold": self.probe.config.gate_threshold,
        }


def probe_identity(config: ProbeConfig) -> dict[str, Any]:
    """What makes two probe times (and two gated timings) comparable: network, runs, gate."""
    return {
        "channels": PROBE_CHANNELS,
        "size": PROBE_SIZE,
        "layers": PROBE_LAYERS,
        "seed": PROBE_SEED,
        "runs": config.runs,
        "gate": [
            config.gate_interval_s,
            config.gate_runs,
            config.gate_threshold,
            config.gate_min_looks,
        ],
    }


def probe_onnx_path(folder: str | Path | None = None) -> Path:
    """Return the probe's ONNX file, written once per content into ``folder`` (default tmp)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(PROBE_SEED)
    c, s = PROBE_CHANNELS, PROBE_SIZE
    nodes, weights, prev = [], [], "x"
    for i in range(PROBE_LAYERS):
        w = (rng.standard_normal((c, c, 3, 3)) / math.sqrt(9 * c)).astype(np.float32)
        weights.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("Conv", [prev, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        prev = f"r{i}"
    graph = helper.make_graph(
        nodes,
        "hwnas_probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", c, s, s])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["batch", c, s, s])],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", PROBE_OPSET)])
    model.ir_version = 8
    data = model.SerializeToString()
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = Path(folder or tempfile.gettempdir()) / f"hwnas-probe-{digest}.onnx"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(data)
        os.replace(partial, path)
    onnx.checker.check_model(str(path))
    return path


def probe_torch_model() -> Any:
    """Return the probe as a ``TorchModel`` (the same network as the ONNX probe)."""
    from profilers.runtimes.base import InputSpec
    from profilers.runtimes.torch import TorchModel

    def build() -> Any:
        import torch

        torch.manual_seed(PROBE_SEED)
        layers = []
        for _ in range(PROBE_LAYERS):
            layers += [torch.nn.Conv2d(PROBE_CHANNELS, PROBE_CHANNELS, 3, padding=1, bias=False)]
            layers += [torch.nn.ReLU()]
        return torch.nn.Sequential(*layers).eval()

    shape = (None, PROBE_CHANNELS, PROBE_SIZE, PROBE_SIZE)
    return TorchModel(build, (InputSpec("x", shape, np.dtype("float32")),), name="hwnas_probe")


def open_probe(
    runtime: Any, config: ProbeConfig | None = None, *, baseline_ms: float | None = None
) -> DisturbanceProbe:
    """Load the probe with ``runtime`` (its threads and device) and return it, ready to time.

    ONNX runtimes get the ONNX probe, PyTorch runtimes (``model_format == "torch"``) the
    module; on ``torch-cudagraph`` the probe is a replayed CUDA graph timed by CUDA events.
    """
    model = probe_torch_model() if runtime.model_format == "torch" else probe_onnx_path()
    session = runtime.load(model)
    try:
        run = session.prepare(session.random_inputs(1, seed=PROBE_SEED))
        timer = session.timer()
    except BaseException:
        session.close()
        raise
    return DisturbanceProbe(run, timer, config, baseline_ms=baseline_ms, close=session.close)

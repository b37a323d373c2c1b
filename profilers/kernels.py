"""Kernel-level costs: the kernels a runtime really runs for an ONNX file, and their times.

ONNX Runtime rewrites a graph before it runs it: it folds BatchNorm into convolutions, fuses
activations into the kernel before them, drops dead branches, and on CPUs moves convolutions
to its blocked NCHWc layout. The nodes it then runs are the *kernels* whose times add up to
a network's latency (nn-Meter's observation, MobiSys 2021). They are found here without any
rule written by hand: the session saves its optimised graph (``optimized_model_filepath``),
which names each kernel's operator, domain and attributes, and its profiler
(``enable_profiling``) records every kernel run with its input and output shapes and its
duration. A kernel's key joins the two (``Kernel.key``), so the same kernel in two networks
has one key, and a fused kernel differs from its unfused parts.

`profile_kernels` times each kernel of one file in place, inside its network (caches and
neighbours as they are when the network runs); `KernelTable` pools such times per key and
sums a network's kernels, with an estimate for a kernel it never saw. The times come from the
runtime's profiler, whose own overhead per kernel is small but not nothing: the network's
latency is about a linear function of its kernel sum, and the predictors fit that function.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from profilers.errors import ConfigError, ModelLoadError

_SKIPPED_ATTRIBUTES = frozenset({"channels_last"})
"""Attributes that say nothing of the work a kernel does (layout bookkeeping)."""


@dataclass(frozen=True)
class Kernel:
    """One kernel of an optimised graph: its operator, attributes and tensor shapes.

    Attributes:
        op: ``domain:op_type`` of the optimised node (``com.microsoft.nchwc:Conv``, ``:Add``).
        attributes: The node's attributes as ``name=value`` pairs, sorted (weights excluded).
        inputs: Element type and shape of each input, e.g. ``float[1,16,32,32]``.
        outputs: The same for each output.
    """

    op: str
    attributes: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def key(self) -> str:
        """One string naming the kernel: the same kernel in any network has the same key."""
        attrs = ",".join(self.attributes)
        return f"{self.op}[{attrs}]({';'.join(self.inputs)})->({';'.join(self.outputs)})"

    @property
    def work(self) -> float:
        """A size of the kernel's work, for estimating unseen kernels of a known operator.

        The product of the output's elements and the elements per output channel of the
        second input (a convolution's or matmul's weights), or the largest tensor's elements
        for kernels without weights.
        """
        shapes = [_shape(t) for t in self.inputs + self.outputs]
        largest = max((math.prod(s) for s in shapes if s), default=1)
        if len(self.inputs) >= 2 and self.outputs:
            weights, out = _shape(self.inputs[1]), _shape(self.outputs[0])
            if len(weights) >= 2 and out:
                return float(math.prod(out) * math.prod(weights[1:]))
        return float(largest)


@dataclass(frozen=True)
class KernelTime:
    """A kernel of one network and its time there.

    Attributes:
        node: The node's name in the optimised graph.
        kernel: What the kernel is.
        median_us: Median over the profiled runs of its time per run (microseconds).
        runs: Profiled runs the median is over.
    """

    node: str
    kernel: Kernel
    median_us: float
    runs: int


@dataclass(frozen=True)
class NetworkKernels:
    """The kernels one network ran, with the runtime's time for whole runs beside them.

    Attributes:
        kernels: Every kernel, in the order the runtime ran them.
        run_median_us: Median of the profiler's ``model_run`` time over the profiled runs.
        runs: Profiled runs (after the warm-up ones).
    """

    kernels: tuple[KernelTime, ...]
    run_median_us: float
    runs: int

    @property
    def kernel_sum_us(self) -> float:
        """The sum of the kernels' median times."""
        return float(sum(k.median_us for k in self.kernels))

    def op_counts(self) -> dict[str, int]:
        """How many kernels of each operator the network ran."""
        counts: dict[str, int] = defaultdict(int)
        for k in self.kernels:
            counts[k.kernel.op] += 1
        return dict(counts)

    def to_dict(self) -> dict[str, Any]:
        """Return the kernels as JSON data (`from_dict` reads it back)."""
        return {
            "run_median_us": self.run_median_us,
            "runs": self.runs,
            "kernels": [
                {
                    "node": k.node,
                    "op": k.kernel.op,
                    "attributes": list(k.kernel.attributes),
                    "inputs": list(k.kernel.inputs),
                    "outputs": list(k.kernel.outputs),
                    "median_us": k.median_us,
                    "runs": k.runs,
                }
                for k in self.kernels
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkKernels:
        """Read `to_dict` output."""
        kernels = tuple(
            KernelTime(
                node=str(k["node"]),
                kernel=Kernel(
                    str(k["op"]),
                    tuple(k["attributes"]),
                    tuple(k["inputs"]),
                    tuple(k["outputs"]),
                ),
                median_us=float(k["median_us"]),
                runs=int(k["runs"]),
            )
            for k in data["kernels"]
        )
        return cls(kernels, float(data["run_median_us"]), int(data["runs"]))


def profile_kernels(
    path: str | Path, runtime: Any, *, runs: int = 20, warmup: int = 3, seed: int = 0
) -> NetworkKernels:
    """Run an ONNX file with ONNX Runtime's profiler on; return its kernels and their times.

    Args:
        path: The ONNX file.
        runtime: A `profilers.OnnxRuntime`: its session options (threads, graph optimisation
            level, providers) are the ones the kernels are found and timed with, so they are
            the kernels of that runtime setting.
        runs: Profiled runs whose per-kernel median is kept (1 finds the kernels only).
        warmup: Runs before them, left out (first-run allocations and caches).
        seed: Seed of the random inputs.

    Raises:
        ConfigError: If ``runtime`` is not an ONNX Runtime or ``runs`` < 1.
        ModelLoadError: If ONNX Runtime cannot load or run the file.
    """
    import onnx

    if not hasattr(runtime, "session_options"):
        raise ConfigError(
            f"kernel profiles read ONNX Runtime's profiler; runtime {runtime!r} is not one"
        )
    if runs < 1 or warmup < 0:
        raise ConfigError(f"profile_kernels needs runs >= 1 and warmup >= 0, got {runs}, {warmup}")
    import onnxruntime as ort

    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="hwnas-kernels-") as tmp:
        options = runtime.session_options()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        optimized = Path(tmp) / "optimized.onnx"
        options.optimized_model_filepath = str(optimized)
        try:
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=list(runtime.providers)
            )
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            raise ModelLoadError(
                f"onnxruntime cannot load {path} for a kernel profile: {type(exc).__name__}: {exc}"
            ) from exc
        inputs = _random_inputs(session, seed)
        for _ in range(warmup + runs):
            session.run(None, inputs)
        trace = json.loads(Path(session.end_profiling()).read_text())
        nodes = {n.name: n for n in onnx.load(str(optimized), load_external_data=False).graph.node}
    return _read_trace(trace, nodes, warmup)


def _random_inputs(session: Any, seed: int) -> dict[str, np.ndarray]:
    """Seeded inputs for each of the session's inputs (symbolic dimensions taken as 1)."""
    from profilers.runtimes.onnxruntime import _ORT_DTYPES

    rng = np.random.default_rng(seed)
    inputs = {}
    for spec in session.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in spec.shape]
        dtype = _ORT_DTYPES.get(spec.type, np.float32)
        if np.issubdtype(dtype, np.floating):
            inputs[spec.name] = rng.standard_normal(shape).astype(dtype)
        else:
            inputs[spec.name] = np.zeros(shape, dtype=dtype)
    return inputs


def _read_trace(trace: Sequence[Mapping[str, Any]], nodes: Mapping[str, Any], warmup: int):
    """Group the profiler's kernel events by run and node; return the kept runs' medians."""
    runs = sorted(
        (e["ts"], e["ts"] + e["dur"], e["dur"])
        for e in trace
        if e.get("cat") == "Session" and e.get("name") == "model_run"
    )
    kept = runs[warmup:]
    if not kept:
        raise ModelLoadError("the runtime's profile holds no runs past the warm-up")
    starts = np.array([r[0] for r in runs])
    times: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(kept))
    shapes: dict[str, tuple[list, list, str]] = {}
    order: list[str] = []
    for event in trace:
        if event.get("cat") != "Node" or not event.get("name", "").endswith("_kernel_time"):
            continue
        run = int(np.searchsorted(starts, event["ts"], side="right")) - 1 - warmup
        if run < 0 or run >= len(kept):
            continue
        name = event["name"][: -len("_kernel_time")]
        if name not in shapes:
            args = event.get("args", {})
            shapes[name] = (
                args.get("input_type_shape", []),
                args.get("output_type_shape", []),
                args.get("op_name", ""),
            )
            order.append(name)
        times[name][run] += float(event["dur"])
    kernels = []
    for name in order:
        inputs, outputs, op_name = shapes[name]
        node = nodes.get(name)
        op = f"{node.domain}:{node.op_type}" if node is not None else f":{op_name}"
        kernel = Kernel(op, _attributes(node), _tensors(inputs), _tensors(outputs))
        kernels.append(KernelTime(name, kernel, float(np.median(times[name])), len(kept)))
    return NetworkKernels(tuple(kernels), float(np.median([r[2] for r in kept])), len(kept))


def _tensors(entries: Iterable[Mapping[str, Sequence[int]]]) -> tuple[str, ...]:
    """Profiler shape entries (``{"float": [1, 16, 8, 8]}``) as ``float[1,16,8,8]``."""
    return tuple(
        f"{dtype}[{','.join(str(int(d)) for d in shape)}]"
        for entry in entries
        for dtype, shape in entry.items()
    )


def _shape(tensor: str) -> tuple[int, ...]:
    inside = tensor[tensor.index("[") + 1 : -1] if "[" in tensor else ""
    return tuple(int(d) for d in inside.split(",") if d)


def _attributes(node: Any) -> tuple[str, ...]:
    """A node's attributes as sorted ``name=value`` strings (tensors and graphs left out)."""
    if node is None:
        return ()
    from onnx import helper

    pairs = []
    for attribute in node.attribute:
        if attribute.name in _SKIPPED_ATTRIBUTES:
            continue
        value = helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, (list, tuple)):
            if value and not isinstance(value[0], (int, float, bytes, str)):
                continue
            value = "x".join(
                v.decode("utf-8", "replace") if isinstance(v, bytes) else f"{v:g}"
                if isinstance(v, float) else str(v)
                for v in value
            )  # fmt: skip
        elif isinstance(value, float):
            value = f"{value:g}"
        elif not isinstance(value, (int, str)):
            continue
        pairs.append(f"{attribute.name}={value}")
    return tuple(sorted(pairs))


class KernelTable:
    """Kernel times pooled by key over profiled networks; sums the kernels of any network.

    A kernel seen in several networks (or several times in one) gets the median of its
    times. A kernel never seen is estimated from the kernels of its operator (and
    attributes, where some were seen), scaled by `Kernel.work`; a kernel of an operator never
    seen, from all kernels. `kernel_sum` says how many kernels were estimated.
    """

    def __init__(self) -> None:
        self._times: dict[str, list[float]] = defaultdict(list)
        self._kernels: dict[str, Kernel] = {}
        self._per_work: dict[str, float] | None = None

    def add(self, network: NetworkKernels) -> None:
        """Pool one network's kernel times."""
        for k in network.kernels:
            self._times[k.kernel.key].append(k.median_us)
            self._kernels[k.kernel.key] = k.kernel
        self._per_work = None

    def __len__(self) -> int:
        return len(self._times)

    def __contains__(self, kernel: object) -> bool:
        return isinstance(kernel, Kernel) and kernel.key in self._times

    def time_us(self, kernel: Kernel) -> tuple[float, bool]:
        """The kernel's time (µs) and whether it was seen (False: estimated).

        Raises:
            ConfigError: If the table is empty.
        """
        times = self._times.get(kernel.key)
        if times:
            return float(np.median(times)), True
        if not self._times:
            raise ConfigError("the kernel table is empty: profile some networks' kernels first")
        rates = self._rates()
        for group in (f"{kernel.op}[{','.join(kernel.attributes)}]", kernel.op, ""):
            if group in rates:
                return rates[group] * kernel.work, False
        raise AssertionError("the catch-all rate always exists")  # pragma: no cover

    def kernel_sum(self, kernels: Iterable[Kernel]) -> tuple[float, int]:
        """Sum of the kernels' times (µs) and how many of them were estimated."""
        total, unseen = 0.0, 0
        for kernel in kernels:
            time_us, seen = self.time_us(kernel)
            total += time_us
            unseen += not seen
        return total, unseen

    def _rates(self) -> dict[str, float]:
        """Median time per unit of work, by operator with attributes, operator, and overall."""
        if self._per_work is None:
            groups: dict[str, list[float]] = defaultdict(list)
            for key, times in self._times.items():
                kernel = self._kernels[key]
                rate = float(np.median(times)) / max(kernel.work, 1.0)
                attrs = f"{kernel.op}[{','.join(kernel.attributes)}]"
                for group in (attrs, kernel.op, ""):
                    groups[group].append(rate)
            self._per_work = {g: float(np.median(r)) for g, r in groups.items()}
        return self._per_work

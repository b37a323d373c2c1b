"""Latency for the runtime a device really runs: kernel sums, a prior, and a fitted residual.

The literature tables were measured with other runtimes (PyTorch on GPUs, TFLite on phones)
than the one a user deploys with. ONNX Runtime fuses operators, drops dead edges and picks
its own kernels, so a MetaPredictor adapted from 10 reference latencies ranks FBNet networks
no better than their MACs on the development VM (issue 20). Here a network's latency is
predicted from what the runtime runs:

- `KernelProfiler` exports a space's networks at one precision, finds the kernels ONNX
  Runtime runs for each (`profilers.kernels`) and times them in place; the times pool into a
  `profilers.kernels.KernelTable` of the device setting (runtime, threads, precision).
- `RuntimePredictor` fits the device's own samples on the kernel sum, the MetaPredictor's
  prior where one is given, MACs, parameters, memory traffic and kernel count: cross-
  validation (`predictors.LatencyRegressor`) chooses the model and the feature set, so the
  prior corrects the kernel sum only where that predicts held-out samples better.
- `choose_samples` picks the next networks to time where the samples so far say least: the
  candidates farthest, in those features, from every network already timed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.core.spaces import create_space
from hwnas.errors import InputError

PRECISIONS = ("fp32", "fp16", "int8")
FEATURES = ("kernel_sum_ms", "prior_ms", "macs_m", "params_m", "memory_mb", "kernels")
_KERNEL_SUM, _PRIOR, _MACS, _PARAMS, _MEMORY, _COUNT = range(len(FEATURES))
FEATURE_SETS = (
    ("kernels", (_KERNEL_SUM,)),
    ("kernels+count", (_KERNEL_SUM, _COUNT), (_COUNT,)),
    ("kernels+count+memory", (_KERNEL_SUM, _COUNT, _MEMORY), (_COUNT,)),
    ("kernels+count+macs", (_KERNEL_SUM, _COUNT, _MACS, _PARAMS), (_COUNT,)),
    ("kernels+count+prior", (_KERNEL_SUM, _COUNT, _PRIOR), (_COUNT,)),
    ("prior", (_PRIOR,)),
)
"""Feature sets cross-validation chooses between (those naming the prior only with one).

The kernel count's weight may be negative: each kernel time read from the profiler carries
the profiler's own few microseconds, which the count takes back out (on the development VM,
latency = 1.07 x kernel sum - 5.5 us per kernel + 0.6 us fits 77 NB201 networks to 2.4 %
MAPE, where the kernel sum with an intercept alone gives 11.8 %)."""


class KernelProfiler:
    """Exports a space's networks at one precision and profiles their kernels, with a cache.

    Files live under ``folder``: ``onnx/<space>_<id>.<precision>.onnx`` and the kernel
    profiles ``kernels/<setting>/<space>_<id>.json``, where the setting names the runtime's
    threads and the precision. A profile with at least the runs asked for is read back, not
    made again, so a killed run resumes.

    Args:
        space: A registered space name.
        folder: Where the files and profiles go.
        runtime: The `profilers.OnnxRuntime` whose kernels are found and timed.
        precision: ``fp32``, ``fp16`` or ``int8`` files.
        build: ``build(arch) -> (module, input_shape)``; default the space's bare network at
            its own input shape.
        exporter: The ONNX exporter (``hwnas.core.export.OnnxExport``).
        key_of: The store key of an architecture (default ``str``; a network setting's
            ``ARCH@LABEL``).
    """

    def __init__(
        self,
        space: str,
        folder: str | Path,
        runtime: Any,
        precision: str = "fp32",
        build: Callable[[Any], tuple[Any, tuple[int, ...]]] | None = None,
        exporter: str = "legacy",
        key_of: Callable[[Any], str] = str,
    ) -> None:
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.space = create_space(space)
        self.space_name = space
        self.folder = Path(folder)
        self.runtime = runtime
        self.precision = precision
        self.exporter = exporter
        self.key_of = key_of
        self._build = build or (lambda arch: (self.space.build(arch), self.space.input_shape))

    @property
    def setting(self) -> str:
        """The runtime setting's folder name, e.g. ``onnxruntime-t1-int8``."""
        return f"{self.runtime.name}-t{self.runtime.intra_op_threads}-{self.precision}"

    def name(self, arch: Any) -> str:
        """The file stem of ``arch``: its table index where it has one, else a hash."""
        index = self.space.table_index(arch)
        if index is not None:
            return f"{self.space_name}_{index:05d}"
        return f"{self.space_name}_{hashlib.sha256(str(arch).encode()).hexdigest()[:12]}"

    def onnx_path(self, arch: Any) -> Path:
        """The network's ONNX file at this precision, exported (and converted) on first use."""
        from hwnas.core.export import OnnxExport, export_onnx

        fp32 = self.folder / "onnx" / f"{self.name(arch)}.fp32.onnx"
        if not fp32.exists():
            module, input_shape = self._build(arch)
            partial = fp32.with_name(f"{fp32.stem}.{os.getpid()}.part.onnx")
            export_onnx(module, input_shape, partial, OnnxExport(exporter=self.exporter))
            os.replace(partial, fp32)
        if self.precision == "fp32":
            return fp32
        path = fp32.with_name(f"{self.name(arch)}.{self.precision}.onnx")
        if not path.exists():
            from hwnas.core.export.precision import timing_copy

            partial = path.with_name(f"{path.stem}.{os.getpid()}.part.onnx")
            timing_copy(fp32, partial, self.precision, self._build(arch)[1])
            os.replace(partial, path)
        return path

    def cached_indices(self) -> list[int]:
        """Table indices of the space's networks whose kernel lists are cached here."""
        folder = self.folder / "kernels" / self.setting
        prefix = f"{self.space_name}_"
        indices = []
        for path in folder.glob(f"{prefix}*.json") if folder.is_dir() else ():
            number = path.stem[len(prefix) :]
            if len(number) < 12 and number.isdigit():  # a 12-digit hash is no table index
                indices.append(int(number))
        return sorted(indices)

    def network_kernels(self, arch: Any, runs: int = 20):
        """The network's kernels with their times over ``runs`` profiled runs (cached).

        ``runs=1`` finds the kernels (a list to price from a `KernelTable`); more runs also
        time them for the table.
        """
        from profilers.kernels import NetworkKernels, profile_kernels

        cache = self.folder / "kernels" / self.setting / f"{self.name(arch)}.json"
        if cache.exists():
            try:
                cached = NetworkKernels.from_dict(json.loads(cache.read_text()))
            except (OSError, ValueError, KeyError, TypeError):
                cached = None  # a damaged cache file is made again
            if cached is not None and cached.runs >= runs:
                return cached
        kernels = profile_kernels(self.onnx_path(arch), self.runtime, runs=runs)
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f"{cache.stem}.{os.getpid()}.part")
        partial.write_text(json.dumps(kernels.to_dict()))
        os.replace(partial, cache)
        return kernels

    def table(self, archs: Sequence[Any], runs: int = 20, *, store: Any = None, device: Any = None):
        """A `profilers.kernels.KernelTable` of the kernels of ``archs``, timed in place.

        With a ``store`` (a `profilers.MeasurementStore`) and the ``device`` timed, each
        network's profile is also written there, with the host fingerprint and the runtime's
        description, as it finishes.
        """
        from devices.fingerprint import host_fingerprint
        from profilers.kernels import KernelTable
        from profilers.measurement import utc_now_iso

        table = KernelTable()
        for arch in archs:
            kernels = self.network_kernels(arch, runs)
            table.add(kernels)
            if store is not None:
                store.add_kernels(
                    self.key_of(arch),
                    (device.name, self.runtime.name, self.precision, 1),
                    kernels.to_dict(),
                    {"host": host_fingerprint(), "device": device.to_dict()},
                    self.runtime.describe(),
                    utc_now_iso(),
                )
        return table


def stored_kernel_table(store: Any, device: str, runtime: Any, precision: str = "fp32"):
    """The kernel table of a device setting from a store's kernel profiles, or None.

    Only profiles taken with the runtime's threads and graph optimisation level count.
    """
    from profilers.kernels import KernelTable, NetworkKernels

    table = KernelTable()
    for entry in store.kernel_profiles(device, runtime.name, precision).values():
        info = entry["runtime_info"]
        if (info.get("intra_op_threads"), info.get("graph_optimization")) == (
            runtime.intra_op_threads,
            runtime.graph_optimization,
        ):
            table.add(NetworkKernels.from_dict(entry["profile"]))
    return table if len(table) else None


class RuntimePredictor:
    """Predicts latency (ms) under one runtime setting from kernel sums and a prior.

    Args:
        profiler: Finds each network's kernels (`KernelProfiler`).
        table: The device setting's kernel times.
        prior: ``prior(archs) -> ms`` (e.g. an adapted MetaPredictor's ``predict``), or None.
        model: ``"auto"`` or one of ``predictors.regressor_names.CANDIDATES``.
    """

    def __init__(
        self,
        profiler: KernelProfiler,
        table: Any,
        prior: Callable[[Sequence[Any]], np.ndarray] | None = None,
        model: str = "auto",
    ) -> None:
        self.profiler = profiler
        self.table = table
        self.prior = prior
        self.model = model
        self.regressor_: Any = None

    def features(self, archs: Sequence[Any]) -> np.ndarray:
        """The (N, len(FEATURES)) features of ``archs``; the prior column is 0 without one."""
        rows = []
        for arch in archs:
            kernels = self.profiler.network_kernels(arch, runs=1)
            total_us, _ = self.table.kernel_sum(k.kernel for k in kernels.kernels)
            memory = sum(_bytes(t) for k in kernels.kernels for t in k.kernel.outputs)
            rows.append([total_us / 1e3, 0.0, 0.0, 0.0, memory / 1e6, len(kernels.kernels)])
        X = np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
        params, macs = self.profiler.space.network_costs(list(archs))
        X[:, _PARAMS], X[:, _MACS] = np.asarray(params) / 1e6, np.asarray(macs) / 1e6
        if self.prior is not None:
            X[:, _PRIOR] = np.asarray(self.prior(list(archs)), dtype=np.float64)
        return X

    def cached_indices(self) -> list[int]:
        """Table indices of the networks priced without exporting (kernel lists cached)."""
        return self.profiler.cached_indices()

    def feature_sets(self) -> tuple[tuple, ...]:
        """The feature sets cross-validation may choose (with the prior only if there is one)."""
        return tuple(s for s in FEATURE_SETS if self.prior is not None or _PRIOR not in s[1])

    def fit(self, archs: Sequence[Any], latency_ms: Sequence[float]) -> RuntimePredictor:
        """Fit on the device's own samples (at least 5)."""
        from predictors import LatencyRegressor

        y = np.asarray(latency_ms, dtype=np.float64)
        if len(archs) != len(y) or len(y) < 5:
            raise InputError(
                f"a runtime predictor needs at least 5 timed networks with a latency each, "
                f"got {len(archs)} networks and {len(y)} latencies"
            )
        self.regressor_ = LatencyRegressor(model=self.model, feature_sets=self.feature_sets())
        self.regressor_.fit(self.features(archs), y)
        return self

    def predict(self, archs: Sequence[Any], features: np.ndarray | None = None) -> np.ndarray:
        """Predicted latency (ms) of each network (``features`` when already computed)."""
        if self.regressor_ is None:
            raise InputError("the runtime predictor is not fitted: call fit first")
        return self.regressor_.predict(self.features(archs) if features is None else features)

    @property
    def chosen(self) -> str:
        """The model and feature set cross-validation chose (``"huber:kernels"``)."""
        return "" if self.regressor_ is None else self.regressor_.model_

    def bound_factor(self, confidence: float = 0.9) -> float:
        """The split-conformal factor a prediction is multiplied by for a latency bound."""
        return self.regressor_.bound_factor(confidence)


def choose_samples(features: np.ndarray, known: Sequence[int], n: int, seed: int = 0) -> list[int]:
    """Pick ``n`` candidate rows to time next: each the farthest from every row timed so far.

    A coverage criterion (greedy k-centre) in the standardised log features: the samples
    spread over the range of kernel sums, costs and kernel counts the candidates span, so
    the residual model is fitted where it will be used, not where random draws cluster.

    Args:
        features: (N, F) features of the candidates and the timed networks, positive.
        known: Rows already timed (the references).
        n: How many rows to pick.
        seed: Breaks ties between equally far rows (the same seed, the same picks).

    Returns:
        The picked row indices, in the order picked.
    """
    X = np.log(np.maximum(np.asarray(features, dtype=np.float64), 1e-9))
    spread = X.std(axis=0)
    X = (X[:, spread > 0] - X[:, spread > 0].mean(axis=0)) / spread[spread > 0]
    free = np.ones(len(X), dtype=bool)
    free[list(known)] = False
    if n > int(free.sum()):
        raise InputError(f"cannot choose {n} networks from {int(free.sum())} candidates")
    tie = np.random.default_rng(seed).random(len(X)) * 1e-9
    if len(known):
        nearest = np.min(((X[:, None, :] - X[None, list(known), :]) ** 2).sum(-1), axis=1)
    else:
        nearest = np.full(len(X), np.inf)
    picks: list[int] = []
    for _ in range(n):
        score = np.where(free, nearest + tie, -np.inf)
        pick = int(np.argmax(score))
        picks.append(pick)
        free[pick] = False
        nearest = np.minimum(nearest, ((X - X[pick]) ** 2).sum(-1))
    return picks


_BYTES = {"float": 4, "float16": 2, "uint8": 1, "int8": 1, "int32": 4, "int64": 8, "double": 8}


def _bytes(tensor: str) -> float:
    """Bytes of a kernel tensor string (``float[1,16,8,8]``)."""
    dtype, _, rest = tensor.partition("[")
    dims = [int(d) for d in rest.rstrip("]").split(",") if d]
    return float(_BYTES.get(dtype, 4) * int(np.prod(dims)) if dims else 0)

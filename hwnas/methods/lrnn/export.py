"""ONNX export of a trained LRNN: a single-step graph driven by a loop, and an unrolled graph.

The step graph maps ``(token (B,), state_0, ..., state_{L-1})`` to ``(logits (B, C),
new_state_0, ...)``: a runtime keeps the states and feeds one token at a time, so a sequence of
any length runs in constant memory. The unrolled graph maps token ids (B, T) for one fixed T to
logits (B, T, C). Both are checked against PyTorch through ONNX Runtime, and the step graph's
latency per token is timed by the one export pipeline (`hwnas.core.export.pipeline`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from hwnas.core.export.onnx import EXPORTERS, OnnxExportError
from hwnas.core.export.report import ExportReport
from hwnas.core.export.sources import ExportedGraph, GraphCheck, ModelSource
from hwnas.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LRNNExport:
    """How to export and check an LRNN.

    Attributes:
        opset: ONNX opset.
        exporter: ``auto`` (torch.export-based, legacy as fallback), ``dynamo`` or ``legacy``.
        unrolled_length: The fixed sequence length T of the unrolled graph.
        check_length: Tokens fed through the step graph in the check against PyTorch.
        check_batch: Sequences in each check (latency is timed at batch 1).
        tolerance: Largest accepted |ONNX Runtime - PyTorch| over logits and states.
        intra_op_threads: ONNX Runtime threads; None uses every usable core.
        max_time_s: Time cap of the repeated runs of each latency measurement.
        seed: Seeds the check tokens.
    """

    opset: int = 18
    exporter: str = "auto"
    unrolled_length: int = 32
    check_length: int = 256
    check_batch: int = 2
    tolerance: float = 1e-4
    intra_op_threads: int | None = None
    max_time_s: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.exporter not in EXPORTERS:
            raise InputError(f"exporter must be one of {EXPORTERS}, got {self.exporter!r}")
        for name in ("unrolled_length", "check_length", "check_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"LRNNExport.{name} must be a positive integer, got {value!r}")
        if not self.tolerance > 0 or not self.max_time_s > 0:
            raise InputError("LRNNExport tolerance and max_time_s must be positive")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LRNNExportReport(ExportReport):
    """The export pipeline's `ExportReport` of an LRNN, with the LRNN's views.

    No fields of its own; the views read its two graphs:
    `step_max_abs_error` is over the logits of all `check_length` steps and the final states,
    `unrolled_max_abs_error` over the logits of all `unrolled_length` positions;
    `step_latency` is one step-graph call at batch 1 (the latency per token),
    `unrolled_latency` one unrolled-graph call, `unrolled_latency_per_token_ms` its median
    over `unrolled_length`.
    """

    JSON_VIEWS = (
        *ExportReport.JSON_VIEWS,
        "step_onnx",
        "unrolled_onnx",
        "check_length",
        "unrolled_length",
        "state_shapes",
        "step_max_abs_error",
        "unrolled_max_abs_error",
        "step_latency",
        "unrolled_latency",
        "unrolled_latency_per_token_ms",
    )

    @property
    def _unrolled(self):
        return self.graphs[1]

    @property
    def step_onnx(self) -> str:
        return self.graph("step").onnx_path

    @property
    def unrolled_onnx(self) -> str:
        return self._unrolled.onnx_path

    @property
    def check_length(self) -> int:
        return int(self.details["check_length"])

    @property
    def unrolled_length(self) -> int:
        return int(self.details["unrolled_length"])

    @property
    def state_shapes(self) -> list:
        return self.details["state_shapes"]

    @property
    def step_max_abs_error(self) -> float:
        return self.graph("step").max_abs_error

    @property
    def unrolled_max_abs_error(self) -> float:
        return self._unrolled.max_abs_error

    @property
    def step_latency(self):
        return self.graph("step").measured_latency

    @property
    def unrolled_latency(self):
        return self._unrolled.measured_latency

    @property
    def unrolled_latency_per_token_ms(self) -> float:
        return self._unrolled.measured_latency.median_ms / self.unrolled_length


def _step_module(model):
    import torch

    class StepGraph(torch.nn.Module):
        """(token (B,), states tuple) -> (logits, *new states)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, token, states):
            logits, new_states = self.model.step(token, states)
            return (logits, *new_states)

    return StepGraph().eval()


def _unrolled_module(model):
    import torch

    class UnrolledGraph(torch.nn.Module):
        """tokens (B, T) -> logits (B, T, C) by T sequential steps."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, tokens):
            return self.model(tokens)

    return UnrolledGraph().eval()


def _export(module, args: tuple, path: Path, names: tuple[list, list], config: LRNNExport) -> dict:
    """Exports with a dynamic batch axis; returns which exporter worked and why others failed.

    ``args`` is ``(tokens,)`` or ``(token, states)`` with ``states`` a tuple, as the module's
    ``forward`` takes them.
    """
    import onnx
    import torch

    inputs, outputs = names
    batch = torch.export.Dim("batch", min=1, max=4096)
    dynamic = {
        "dynamo": {
            "dynamic_shapes": tuple(
                tuple({0: batch} for _ in a) if isinstance(a, tuple) else {0: batch} for a in args
            )
        },
        "legacy": {"dynamic_axes": {name: {0: "batch"} for name in inputs + outputs}},
    }
    order = {"auto": ("dynamo", "legacy"), "dynamo": ("dynamo",), "legacy": ("legacy",)}
    fallback_reason = None
    for exporter in order[config.exporter]:
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                logging.getLogger("torch.onnx").setLevel(logging.ERROR)
                torch.onnx.export(
                    module,
                    args,
                    str(path),
                    dynamo=exporter == "dynamo",
                    input_names=inputs,
                    output_names=outputs,
                    opset_version=config.opset,
                    **dynamic[exporter],
                    **({"optimize": True, "external_data": False} if exporter == "dynamo" else {}),
                )
            onnx.checker.check_model(str(path), full_check=True)
            return {"exporter": exporter, "fallback_reason": fallback_reason}
        except Exception as err:  # noqa: BLE001 - any exporter failure moves on to the fallback
            fallback_reason = f"{exporter} exporter failed: {type(err).__name__}: {err}"
            log.warning("%s", fallback_reason)
    raise OnnxExportError(f"cannot export {path.name}: {fallback_reason}")


def export_lrnn(
    model_dir: str | Path, out_dir: str | Path, config: LRNNExport | None = None
) -> LRNNExportReport:
    """Exports the model saved in `model_dir` to step and unrolled ONNX graphs in `out_dir`.

    Checks both through ONNX Runtime against PyTorch, times them, and writes
    ``out_dir/report.json``.

    Raises:
        InputError: when `model_dir` holds no model written by `hwnas lrnn train`.
        OnnxExportError: when no exporter produced a valid file.
    """
    from hwnas.methods.lrnn.train import load_model

    weights = f"loaded from {Path(model_dir)}"
    return export_lrnn_model(load_model(model_dir), out_dir, config, weights)


@dataclass(frozen=True)
class LRNNGraphs:
    """The two exported graphs of an LRNN and which exporter wrote each.

    Attributes:
        step_onnx: ``(token (B,), state_0, ...) -> (logits (B, C), new_state_0, ...)``.
        unrolled_onnx: ``tokens (B, T) -> logits (B, T, C)`` for T = ``unrolled_length``.
        exporter: ``{"step": {...}, "unrolled": {...}}``, each ``exporter`` and
            ``fallback_reason``.
        state_names: The step graph's state inputs, in layer order.
        state_shapes: Each state's shape at batch 1.
    """

    step_onnx: Path
    unrolled_onnx: Path
    exporter: dict
    state_names: tuple[str, ...]
    state_shapes: tuple[tuple[int, ...], ...]


def export_lrnn_graphs(model, out_dir: str | Path, config: LRNNExport | None = None) -> LRNNGraphs:
    """Exports the step and unrolled graphs of `model` (switched to its sequential scan).

    Raises:
        InputError: when `out_dir` is a file.
        OnnxExportError: when no exporter produced a valid file.
    """
    import torch

    config = config or LRNNExport()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file; the export needs a folder there")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval().set_scan("sequential")
    layers = len(model.blocks)
    state_names = [f"state_{i}" for i in range(layers)]
    new_state_names = [f"new_state_{i}" for i in range(layers)]

    step_path = out_dir / "step.onnx"
    step_exporter = _export(
        _step_module(model),
        (torch.zeros(2, dtype=torch.long), model.init_states(2)),
        step_path,
        (["token", *state_names], ["logits", *new_state_names]),
        config,
    )
    unrolled_path = out_dir / f"unrolled_{config.unrolled_length}.onnx"
    unrolled_exporter = _export(
        _unrolled_module(model),
        (torch.zeros(2, config.unrolled_length, dtype=torch.long),),
        unrolled_path,
        (["tokens"], ["logits"]),
        config,
    )
    return LRNNGraphs(
        step_onnx=step_path,
        unrolled_onnx=unrolled_path,
        exporter={"step": step_exporter, "unrolled": unrolled_exporter},
        state_names=tuple(state_names),
        state_shapes=tuple(tuple(s.shape) for s in model.init_states(1)),
    )


def check_unrolled_graph(model, runtime, path: str | Path, tokens: np.ndarray) -> float:
    """The largest |ONNX Runtime - PyTorch| of the unrolled graph's logits on `tokens` (B, T)."""
    import torch

    with torch.no_grad():
        expected = model(torch.from_numpy(tokens)).numpy()
    with runtime.load(path) as session:
        actual = session.run({"tokens": tokens})[0]
    return float(np.max(np.abs(actual.astype(np.float64) - expected)))


def export_lrnn_model(
    model, out_dir: str | Path, config: LRNNExport | None = None, name: str | None = None
) -> LRNNExportReport:
    """`export_lrnn` for an `LRNNModel` in memory (switched to its sequential scan).

    Runs the one export pipeline (`hwnas.core.export.pipeline.run_export`) on its
    `LRNNSource`: both graphs checked against PyTorch, timed here at batch 1 on token ids
    within the vocabulary, ``out_dir/report.json`` and ``report.md`` written.
    """
    from hwnas.core.export import OnnxExport
    from hwnas.core.export.pipeline import ExportSettings, run_export
    from profilers import TimingConfig

    config = config or LRNNExport()
    source = LRNNSource.of_model(model, config, weights=name or "given in memory")
    settings = ExportSettings(
        onnx=OnnxExport(opset=config.opset, exporter=config.exporter),
        timing=TimingConfig(max_runs=1000, max_time_s=config.max_time_s),
        intra_op_threads=config.intra_op_threads,
        check_batch=config.check_batch,
    )
    return as_lrnn_report(run_export(source, out_dir, settings))


def as_lrnn_report(report: ExportReport) -> LRNNExportReport:
    """The same report with the LRNN's views."""
    if isinstance(report, LRNNExportReport):
        return report
    return LRNNExportReport(**{f.name: getattr(report, f.name) for f in fields(report)})


def time_lrnn_archs(
    archs, out_dir: str | Path, config: LRNNExport | None = None, seed: int = 0
) -> dict[str, LRNNExportReport]:
    """Exports fresh-weight networks of `archs` (parity vocabulary) and times them per token.

    Latency does not depend on trained values, so these reports, keyed by architecture
    string, pair `hwnas.core.spaces.lrnn.encode` features with measured per-token latencies
    (``report.step_latency["median_ms"]``) for a latency predictor.
    """
    import torch

    from hwnas.core.spaces.lrnn_layers import LRNNConfig, LRNNModel

    reports = {}
    for arch in archs:
        torch.manual_seed(seed)
        model = LRNNModel(LRNNConfig(arch, vocab_size=2, num_classes=2))
        key = str(arch)
        reports[key] = export_lrnn_model(model, Path(out_dir) / key.replace(":", "_"), config)
    return reports


def check_step_graph(model, runtime, path: Path, rng, config: LRNNExport, state_names) -> float:
    """Feeds `check_length` tokens through the step graph in a Python loop; the largest error
    against PyTorch's full-sequence logits and final states."""
    import torch

    batch, length = config.check_batch, config.check_length
    tokens = rng.integers(0, model.config.vocab_size, size=(batch, length), dtype=np.int64)
    with torch.no_grad():
        expected = model(torch.from_numpy(tokens)).numpy().astype(np.float64)
        torch_states = model.init_states(batch)
        for t in range(length):
            _, torch_states = model.step(torch.from_numpy(tokens[:, t]), torch_states)
    states = [s.numpy() for s in model.init_states(batch)]
    error = 0.0
    with runtime.load(path) as session:
        for t in range(length):
            outputs = session.run({"token": tokens[:, t], **dict(zip(state_names, states))})
            error = max(error, float(np.max(np.abs(outputs[0] - expected[:, t]))))
            states = outputs[1:]
    for onnx_state, torch_state in zip(states, torch_states):
        error = max(error, float(np.max(np.abs(onnx_state - torch_state.numpy()))))
    return error


class LRNNSource(ModelSource):
    """An LRNN for the export pipeline: its step graph (latency per token) and unrolled graph.

    Args:
        model: The `LRNNModel`, in eval mode.
        config: The `LRNNExport` settings (unrolled length, check length).
        details: Report fields (parameters, vocabulary, lengths, state shapes).
    """

    kind = "lrnn"
    stem = "lrnn"
    report_type = LRNNExportReport
    precisions = ("fp32",)
    own_inputs = True
    trained = True

    def __init__(self, model, config: LRNNExport, details: dict, weights: str) -> None:
        self.model = model
        self.config = config
        self.name = str(model.config.arch)
        self.details = details
        self.weights = weights
        self.fp32_atol = config.tolerance
        self._state_names = tuple(f"state_{i}" for i in range(len(model.blocks)))

    @classmethod
    def of_model(cls, model, config: LRNNExport | None = None, weights: str = "") -> LRNNSource:
        config = config or LRNNExport()
        cfg = model.config
        details = {
            "params": sum(p.numel() for p in model.parameters()),
            "macs": None,
            "macs_reason": "MACs are counted for image networks only",
            "vocab_size": cfg.vocab_size,
            "num_classes": cfg.num_classes,
            "check_length": config.check_length,
            "unrolled_length": config.unrolled_length,
            "state_shapes": [list(s.shape) for s in model.init_states(1)],
            "weights": weights,
        }
        return cls(model, config, details, weights)

    @classmethod
    def from_folder(cls, model_dir: str | Path, config: LRNNExport | None = None) -> LRNNSource:
        """The LRNN saved in `model_dir` by `hwnas lrnn train`.

        Raises:
            InputError: when the folder holds no such model.
        """
        from hwnas.methods.lrnn.train import load_model

        return cls.of_model(load_model(model_dir), config, f"loaded from {Path(model_dir)}")

    def export(self, out_dir: Path, config) -> list[ExportedGraph]:
        import dataclasses

        lrnn_config = dataclasses.replace(self.config, opset=config.opset, exporter=config.exporter)
        graphs = export_lrnn_graphs(self.model, out_dir, lrnn_config)
        files = {"step": graphs.step_onnx, "unrolled": graphs.unrolled_onnx}
        roles = {"step": "step", "unrolled": f"unrolled_{self.config.unrolled_length}"}
        return [
            ExportedGraph(
                roles[name],
                files[name],
                graphs.exporter[name]["exporter"],
                config.opset,
                graphs.exporter[name]["fallback_reason"],
            )
            for name in ("step", "unrolled")
        ]

    def check(self, graph: ExportedGraph, onnx_path: Path, runtime, batch: int) -> GraphCheck:
        import dataclasses

        import torch

        config = dataclasses.replace(self.config, check_batch=batch)
        vocab = self.model.config.vocab_size
        length = config.check_length if graph.role == "step" else config.unrolled_length
        # Both checks draw their tokens first from a generator seeded with `config.seed`.
        tokens = np.random.default_rng(config.seed).integers(0, vocab, size=(batch, length))
        with torch.no_grad():
            scale = float(self.model(torch.from_numpy(tokens)).abs().max())
        rng = np.random.default_rng(config.seed)
        if graph.role == "step":
            error = check_step_graph(self.model, runtime, onnx_path, rng, config, self._state_names)
            text = (
                f"a loop over {length} random tokens, {batch} sequences; logits at every step "
                "and the final states"
            )
        else:
            tokens = rng.integers(0, vocab, size=(batch, length), dtype=np.int64)
            error = check_unrolled_graph(self.model, runtime, onnx_path, tokens)
            text = f"{batch} random token sequences of length {length}"
        return GraphCheck(max_abs_error=error, reference_scale=scale, inputs=text)

    def timing_inputs(self, graph: ExportedGraph, batch_size: int) -> dict[str, np.ndarray]:
        """Token ids within the vocabulary (seeded), zero states for the step graph."""
        rng = np.random.default_rng(0)
        vocab = self.model.config.vocab_size
        if graph.role == "step":
            states = self.model.init_states(batch_size)
            return {
                "token": rng.integers(0, vocab, size=(batch_size,), dtype=np.int64),
                **{n: s.numpy() for n, s in zip(self._state_names, states)},
            }
        shape = (batch_size, self.config.unrolled_length)
        return {"tokens": rng.integers(0, vocab, size=shape, dtype=np.int64)}

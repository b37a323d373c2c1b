"""ONNX export of a trained LRNN: a single-step graph driven by a loop, and an unrolled graph.

The step graph maps ``(token (B,), state_0, ..., state_{L-1})`` to ``(logits (B, C),
new_state_0, ...)``: a runtime keeps the states and feeds one token at a time, so a sequence of
any length runs in constant memory. The unrolled graph maps token ids (B, T) for one fixed T to
logits (B, T, C). Both are checked against PyTorch through ONNX Runtime, and the step graph's
latency per token is timed with the `profilers` method (`time_callable`).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hwnas.core.export.onnx import EXPORTERS, OnnxExportError
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
class LRNNExportReport:
    """What was exported, how close ONNX Runtime is to PyTorch, and the latency per token.

    Attributes:
        step_max_abs_error: Over the logits of all `check_length` steps and the final states.
        unrolled_max_abs_error: Over the logits of all `unrolled_length` positions.
        step_latency: Statistics (ms) of one step-graph call at batch 1: the latency per token.
        unrolled_latency: Statistics (ms) of one unrolled-graph call at batch 1.
        unrolled_latency_per_token_ms: Median unrolled latency over `unrolled_length`.
    """

    arch: str
    step_onnx: str
    unrolled_onnx: str
    exporter: dict
    opset: int
    state_shapes: list
    check_length: int
    unrolled_length: int
    step_max_abs_error: float
    unrolled_max_abs_error: float
    tolerance: float
    passed: bool
    step_latency: dict
    unrolled_latency: dict
    unrolled_latency_per_token_ms: float
    measurement: dict

    def to_dict(self) -> dict:
        return asdict(self)


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

    return export_lrnn_model(load_model(model_dir), out_dir, config)


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
    model, out_dir: str | Path, config: LRNNExport | None = None
) -> LRNNExportReport:
    """`export_lrnn` for an `LRNNModel` in memory (switched to its sequential scan)."""
    from devices import host_fingerprint
    from profilers import TimingConfig, create_runtime, time_callable

    config = config or LRNNExport()
    graphs = export_lrnn_graphs(model, out_dir, config)
    out_dir = Path(out_dir)
    step_path, unrolled_path, state_names = (
        graphs.step_onnx,
        graphs.unrolled_onnx,
        graphs.state_names,
    )
    states = model.init_states(1)
    vocab = model.config.vocab_size

    rng = np.random.default_rng(config.seed)
    runtime = create_runtime("onnxruntime", intra_op_threads=config.intra_op_threads)
    step_error = check_step_graph(model, runtime, step_path, rng, config, state_names)
    shape = (config.check_batch, config.unrolled_length)
    tokens = rng.integers(0, vocab, size=shape, dtype=np.int64)
    unrolled_error = check_unrolled_graph(model, runtime, unrolled_path, tokens)
    timing = TimingConfig(max_runs=1000, max_time_s=config.max_time_s)
    with runtime.load(unrolled_path) as session:
        one = {"tokens": tokens[:1]}
        unrolled_stats = time_callable(lambda: session.run(one), timing)
    with runtime.load(step_path) as session:
        feed = {"token": tokens[:, 0], **{n: s.numpy() for n, s in zip(state_names, states)}}
        step_stats = time_callable(lambda: session.run(feed), timing)

    report = LRNNExportReport(
        arch=str(model.config.arch),
        step_onnx=str(step_path),
        unrolled_onnx=str(unrolled_path),
        exporter=graphs.exporter,
        opset=config.opset,
        state_shapes=[list(s) for s in graphs.state_shapes],
        check_length=config.check_length,
        unrolled_length=config.unrolled_length,
        step_max_abs_error=step_error,
        unrolled_max_abs_error=unrolled_error,
        tolerance=config.tolerance,
        passed=max(step_error, unrolled_error) <= config.tolerance,
        step_latency=step_stats.to_dict(),
        unrolled_latency=unrolled_stats.to_dict(),
        unrolled_latency_per_token_ms=unrolled_stats.median_ms / config.unrolled_length,
        measurement={
            "host": host_fingerprint(),
            "runtime": runtime.describe(),
            "batch_size": 1,
            "timing": timing.to_dict(),
            "method": "profilers.time_callable over session.run; step graph: one token",
            "export_config": config.to_dict(),
        },
    )
    (out_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report


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

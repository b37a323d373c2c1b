"""What `hwnas export` exports: a model source per kind, each giving ONNX graphs and their checks.

A source is built from what the user names (`--arch`, `--genotype`, `--ensemble`, `--lrnn`) and
hands the shared pipeline of `hwnas.jobs.export` one or more graphs. For each graph it says how
to export it, how to compare an ONNX file of it with the PyTorch model, and which inputs time
it where the profiler's random inputs do not fit (token ids must stay within the vocabulary).

- `ImageSource`: a network with one float image input (B, C, H, W): NB201 and FBNet networks,
  DARTS networks of a genotype, NES ensembles.
- `LRNNSource`: an LRNN saved by `hwnas lrnn train`: the step and unrolled graphs of
  `hwnas.methods.lrnn.export`, checked by its step loop.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.errors import InputError

DARTS_CHANNELS, DARTS_LAYERS, DARTS_CLASSES = 8, 5, 10
"""The network a bare genotype is built as: `hwnas darts train`'s defaults (10 classes)."""
IMAGE_SIDE = {"digits": 8, "mnist": 28, "cifar10": 32, "cifar100": 32, "svhn": 32}
"""Input side in pixels of the datasets `hwnas darts train` reads, by name."""


class ExportSourceError(InputError):
    """What was named for export is not a model hwnas can build or load."""


@dataclass(frozen=True)
class ExportedGraph:
    """One ONNX file a source wrote (fp32), and which exporter wrote it."""

    role: str
    path: Path
    exporter: str
    opset: int
    fallback_reason: str | None = None


@dataclass(frozen=True)
class GraphCheck:
    """An ONNX file compared with PyTorch: the largest |difference| and the largest |output|.

    `reference_scale` (max |PyTorch output| over the checked outputs) turns the relative
    tolerances of reduced precision (and of TensorRT engines) into absolute ones.
    """

    max_abs_error: float
    reference_scale: float
    inputs: str


class ModelSource(abc.ABC):
    """A model to export: its kind, canonical name, and how to export and check its graphs.

    Attributes:
        kind: ``nb201``, ``fbnet``, ``darts``, ``nes`` or ``lrnn``.
        name: The canonical string of the model (architecture, genotype, ensemble folder).
        stem: File name stem of its ONNX files.
        details: Extra report fields (parameters, MACs, where the weights came from).
        precisions: The precisions its ONNX files can be converted to and checked at.
        own_inputs: Whether its graphs are timed on `timing_inputs` rather than on the
            profiler's random inputs (so only here, not on a remote worker).
    """

    kind: str
    name: str
    stem: str
    details: dict[str, Any]
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8")
    own_inputs: bool = False

    @abc.abstractmethod
    def export(self, out_dir: Path, config) -> list[ExportedGraph]:
        """Writes the fp32 ONNX graphs to `out_dir` with `config` (an `OnnxExport`)."""

    @abc.abstractmethod
    def check(self, graph: ExportedGraph, onnx_path: Path, runtime, batch: int) -> GraphCheck:
        """Compares `onnx_path` (`graph` or a converted copy) with PyTorch through `runtime`."""

    def timing_inputs(self, graph: ExportedGraph, batch_size: int) -> dict[str, np.ndarray] | None:
        """Inputs to time `graph` with, or None where the profiler's random inputs fit."""
        return None

    def calibration_samples(self, count: int, seed: int) -> np.ndarray:
        """Inputs for int8 calibration when no file of real ones is given."""
        raise ExportSourceError(f"{self.kind} models cannot be quantized to int8 here")


@dataclass
class ImageSource(ModelSource):
    """A network with one float input of shape (B, *input_shape) and one output.

    Args:
        kind, name, stem, details: See `ModelSource`.
        module: The PyTorch network, in eval mode.
        input_shape: (C, H, W).
    """

    kind: str
    name: str
    stem: str
    module: Any
    input_shape: tuple[int, ...]
    details: dict[str, Any] = field(default_factory=dict)

    def export(self, out_dir: Path, config) -> list[ExportedGraph]:
        from hwnas.core.export import export_onnx

        result = export_onnx(self.module, self.input_shape, out_dir / f"{self.stem}.onnx", config)
        return [
            ExportedGraph(
                "network", result.path, result.exporter, result.opset, result.fallback_reason
            )
        ]

    def check(self, graph: ExportedGraph, onnx_path: Path, runtime, batch: int) -> GraphCheck:
        import torch

        rng = np.random.default_rng(1)  # not the calibration draw (seed 0)
        inputs = rng.standard_normal((batch, *self.input_shape), dtype=np.float32)
        with torch.no_grad():
            expected = self.module(torch.from_numpy(inputs)).numpy().astype(np.float64)
        with runtime.load(onnx_path) as session:
            actual = session.run({session.input_specs[0].name: inputs})[0]
        if actual.shape != expected.shape:
            raise ExportSourceError(
                f"{onnx_path} returns shape {actual.shape}, PyTorch returns {expected.shape}"
            )
        return GraphCheck(
            max_abs_error=float(np.max(np.abs(actual.astype(np.float64) - expected))),
            reference_scale=float(np.max(np.abs(expected))),
            inputs=f"{batch} standard normal inputs of shape {list(self.input_shape)} (seed 1)",
        )

    def calibration_samples(self, count: int, seed: int) -> np.ndarray:
        return np.random.default_rng(seed).standard_normal(
            (count, *self.input_shape), dtype=np.float32
        )


@dataclass
class LRNNSource(ModelSource):
    """An LRNN: its step graph (latency per token) and unrolled graph.

    Built by `hwnas.methods.lrnn.export`.

    Args:
        model: The `LRNNModel`, in eval mode.
        config: The `hwnas.methods.lrnn.export.LRNNExport` settings (unrolled length, check length).
    """

    kind: str
    name: str
    stem: str
    model: Any
    config: Any
    details: dict[str, Any] = field(default_factory=dict)
    precisions: tuple[str, ...] = ("fp32",)
    own_inputs: bool = True

    def __post_init__(self) -> None:
        self._state_names = tuple(f"state_{i}" for i in range(len(self.model.blocks)))

    def export(self, out_dir: Path, config) -> list[ExportedGraph]:
        import dataclasses

        from hwnas.methods.lrnn.export import export_lrnn_graphs

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

        from hwnas.methods.lrnn.export import check_step_graph, check_unrolled_graph

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


def _recalibrated(module, input_shape: tuple[int, ...]):
    """A fresh-weight network with BatchNorm statistics of random inputs (see `export_arch`)."""
    from hwnas.core.batchnorm import random_batches, recalibrate_batchnorm

    return recalibrate_batchnorm(module, random_batches((16, *input_shape)))


def _costs(module, input_shape: tuple[int, ...]) -> dict[str, int]:
    from hwnas.core.complexity import count_macs, count_params

    return {"params": count_params(module), "macs": count_macs(module, (1, *input_shape))}


def source_from_arch(text: str, seed: int = 0) -> ImageSource:
    """The fresh-weight network of an NB201 or FBNet architecture string (detected by parsing).

    Weights are seeded; BatchNorm statistics are estimated on random batches, so activations
    have a trained network's scale (latency and the export check do not depend on trained
    values).

    Raises:
        ArchStringError: when the string parses in neither space (both spaces' complaints).
    """
    import torch

    from hwnas.core.spaces import ArchStringError, FBNetSpace, NB201Space

    errors = {}
    for space in (NB201Space(), FBNetSpace()):
        try:
            arch = space.parse(text)
        except (ArchStringError, ValueError) as err:
            errors[space.name] = str(err)
            continue
        torch.manual_seed(seed)
        module = _recalibrated(space.build(arch), space.input_shape)
        details = {**_costs(module, space.input_shape), "weights": f"fresh (seed {seed})"}
        if space.name == "nb201":
            details["nb201_index"] = arch.index
            stem = f"nb201_{arch.index:05d}"
        else:
            details["fbnet_table_index"] = space.table_index(arch)
            stem = "fbnet"
        return ImageSource(space.name, str(arch), stem, module, space.input_shape, details)
    if "|" in text:  # written as an NB201 cell: its complaint is the useful one
        raise ArchStringError(f"--arch is not an NB201 cell: {errors['nb201']}")
    if "-" in text:
        raise ArchStringError(f"--arch is not an FBNet network: {errors['fbnet']}")
    raise ArchStringError(
        f"--arch {text!r} is neither an NB201 cell (|op~0|+|op~0|op~1|+|...|) nor an FBNet "
        f"network (22 layer choices joined by '-'): {errors['nb201']}; {errors['fbnet']}"
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ExportSourceError(f"cannot read {path}: {err.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ExportSourceError(f"{path} is not JSON: {err}") from None


def source_from_genotype(path: str | Path, seed: int = 0) -> ImageSource:
    """The DARTS network of a genotype: a `genotype.json` (fresh weights, built as `hwnas darts
    train` would: 8 channels, 5 cells, 10 classes, 3x32x32) or a folder written by `hwnas darts
    train` (`network.json` and trained `weights.safetensors`).

    Raises:
        ExportSourceError: for a missing or malformed file, or a genotype with `noise`
            operations (random outputs: no file can be checked against them).
    """
    import torch
    from safetensors.torch import load_file

    from hwnas.core.spaces.darts_genotype import Genotype, load_genotype
    from hwnas.methods.darts.network import DartsNetwork

    path = Path(path)
    trained = path.is_dir()
    if trained:
        meta = _read_json(path / "network.json")
        report = _read_json(path / "report.json") if (path / "report.json").is_file() else {}
        try:
            genotype = Genotype.from_dict(meta["genotype"], source=f"{path / 'network.json'}")
            train, classes, channels = meta["train"], meta["num_classes"], meta["in_channels"]
            model = DartsNetwork(genotype, train["channels"], train["layers"], classes, channels)
        except (KeyError, TypeError) as err:
            raise ExportSourceError(
                f"{path / 'network.json'} is not written by `hwnas darts train` (missing {err})"
            ) from None
        try:
            model.load_state_dict(load_file(path / "weights.safetensors"))
        except (OSError, RuntimeError) as err:
            raise ExportSourceError(
                f"{path / 'weights.safetensors'} does not hold the weights of {genotype}: {err}"
            ) from None
        side = IMAGE_SIDE.get(str(report.get("dataset", "")).partition(":")[0], 32)
        input_shape = (channels, side, side)
        module = model.eval()
        weights = f"loaded from {path / 'weights.safetensors'}"
    else:
        genotype = load_genotype(path)
        input_shape = (3, 32, 32)
        torch.manual_seed(seed)
        model = DartsNetwork(genotype, DARTS_CHANNELS, DARTS_LAYERS, DARTS_CLASSES, 3)
        module = _recalibrated(model, input_shape)
        weights = f"fresh (seed {seed}), {DARTS_CHANNELS} channels, {DARTS_LAYERS} cells"
    if any(op == "noise" for op, _ in genotype.normal + genotype.reduce):
        raise ExportSourceError(
            f"{genotype} has `noise` operations (RobustDARTS S4): its outputs are random, so no "
            "exported file can be checked against it, and it is not a network to deploy"
        )
    details = {**_costs(module, input_shape), "weights": weights, "source": str(path)}
    return ImageSource("darts", str(genotype), "darts", module, input_shape, details)


def source_from_lrnn(model_dir: str | Path, config=None) -> LRNNSource:
    """The LRNN saved in `model_dir` by `hwnas lrnn train`.

    (Or by `hwnas.methods.lrnn.train.save_model`.)

    Raises:
        InputError: when the folder holds no such model.
    """
    from hwnas.methods.lrnn.export import LRNNExport
    from hwnas.methods.lrnn.train import load_model

    model = load_model(model_dir)
    cfg = model.config
    details = {
        "params": sum(p.numel() for p in model.parameters()),
        "macs": None,
        "macs_reason": "MACs are counted for image networks only",
        "vocab_size": cfg.vocab_size,
        "num_classes": cfg.num_classes,
        "weights": f"loaded from {Path(model_dir)}",
    }
    return LRNNSource("lrnn", str(cfg.arch), "lrnn", model, config or LRNNExport(), details)


def source_from_ensemble(ensemble_dir: str | Path) -> ImageSource:
    """The NES ensemble of `ensemble_dir` (`ensemble.json` and its member folders), as one
    network: the weighted mean of its members' softmax
    (`hwnas.methods.nes.ensemble.EnsembleModule`).

    Raises:
        InputError: when the folder holds no ensemble or a member is missing or damaged.
    """
    from hwnas.methods.nes.ensemble import load_ensemble

    ensemble_dir = Path(ensemble_dir)
    module, manifest = load_ensemble(ensemble_dir)
    input_shape = tuple(manifest.input_shape)
    details = {
        **_costs(module, input_shape),
        "space": manifest.space,
        "members": list(manifest.members),
        "member_weights": list(manifest.weights),
        "output": "weighted mean of the members' softmax probabilities",
        "weights": f"loaded from the members of {ensemble_dir}",
    }
    return ImageSource("nes", str(ensemble_dir), "ensemble", module, input_shape, details)


def open_source(
    *,
    arch: str | None = None,
    genotype: str | Path | None = None,
    ensemble: str | Path | None = None,
    lrnn: str | Path | None = None,
    seed: int = 0,
) -> ModelSource:
    """The source of exactly one of `arch`, `genotype`, `ensemble` and `lrnn`.

    Raises:
        InputError: when none or several are given, or the one given cannot be read.
    """
    given = {k: v for k, v in locals().items() if k != "seed" and v is not None}
    if len(given) != 1:
        raise InputError(
            f"name exactly one model to export (--arch, --genotype, --ensemble or --lrnn); "
            f"got {sorted(given) or 'none'}"
        )
    if arch is not None:
        return source_from_arch(arch, seed)
    if genotype is not None:
        return source_from_genotype(genotype, seed)
    if ensemble is not None:
        return source_from_ensemble(ensemble)
    return source_from_lrnn(lrnn)

"""The registry of model sources of `hwnas export`: one opener per kind, one pipeline for all.

``@register_source("nes")`` registers an opener ``(target, *, seed) -> ModelSource`` under a
kind; `create_source(kind, target)` opens one, `list_sources()` names the kinds. Every source
goes through the one pipeline of `hwnas.core.export.pipeline` (export, check, convert,
accuracy, timing, report), whatever its kind:

- ``model``: a folder written by `hwnas train` (the `DeployableNetwork`: normalisation, channel
  repeat and resize inside the graph), trained on the data its `model.json` names;
- ``arch`` (either space), ``nb201``, ``fbnet``: an architecture string, fresh weights;
- ``darts``: a `genotype.json` (fresh weights) or a folder of `hwnas darts train`;
- ``nes``: an NES ensemble folder (`ensemble.json`), one graph of the members' mean softmax;
- ``lrnn``: a folder of `hwnas lrnn train`: step and unrolled graphs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hwnas.core.export.sources import (
    ExportedGraph,
    ExportSourceError,
    GraphCheck,
    ImageSource,
    ModelSource,
)
from hwnas.errors import InputError

__all__ = [
    "ExportSourceError",
    "ExportedGraph",
    "GraphCheck",
    "ImageSource",
    "ModelSource",
    "create_source",
    "list_sources",
    "open_source",
    "register_source",
]

DARTS_CHANNELS, DARTS_LAYERS, DARTS_CLASSES = 8, 5, 10
"""The network a bare genotype is built as: `hwnas darts train`'s defaults (10 classes)."""
IMAGE_SIDE = {"digits": 8, "mnist": 28, "cifar10": 32, "cifar100": 32, "svhn": 32}
"""Input side in pixels of the datasets `hwnas darts train` reads, by name."""
ARCH_SPACES = ("nb201", "fbnet")
"""The spaces an architecture string of `--arch` is parsed in, in this order."""

Opener = Callable[..., ModelSource]
_SOURCES: dict[str, Opener] = {}


class UnknownSourceError(InputError):
    """A model-source kind that is not registered."""


def register_source(kind: str) -> Callable[[Opener], Opener]:
    """Registers an opener ``(target, *, seed=0) -> ModelSource`` under `kind`."""

    def decorate(opener: Opener) -> Opener:
        if kind in _SOURCES and _SOURCES[kind] is not opener:
            raise ValueError(f"model source {kind!r} is already registered to {_SOURCES[kind]}")
        _SOURCES[kind] = opener
        return opener

    return decorate


def create_source(kind: str, target: str | Path, **kwargs: Any) -> ModelSource:
    """The model source of `kind` for `target` (a folder, file or architecture string)."""
    try:
        opener = _SOURCES[kind]
    except KeyError:
        raise UnknownSourceError(
            f"unknown model source {kind!r}; registered: {', '.join(list_sources())}"
        ) from None
    return opener(target, **kwargs)


def list_sources() -> list[str]:
    """The registered source kinds, sorted."""
    return sorted(_SOURCES)


def _recalibrated(module, input_shape: tuple[int, ...]):
    """A fresh-weight network with BatchNorm statistics of random inputs (see `export_arch`)."""
    from hwnas.core.batchnorm import random_batches, recalibrate_batchnorm

    return recalibrate_batchnorm(module, random_batches((16, *input_shape)))


def _costs(module, input_shape: tuple[int, ...]) -> dict[str, int]:
    from hwnas.core.complexity import count_macs, count_params

    return {"params": count_params(module), "macs": count_macs(module, (1, *input_shape))}


def _fresh_network(space, arch, seed: int) -> ImageSource:
    import torch

    torch.manual_seed(seed)
    module = _recalibrated(space.build(arch), space.input_shape)
    details = {**_costs(module, space.input_shape), "weights": f"fresh (seed {seed})"}
    index = space.table_index(arch)
    details[f"{space.name}_table_index"] = index
    stem = space.name if index is None else f"{space.name}_{index:05d}"
    return ImageSource(
        space.name,
        str(arch),
        stem,
        module,
        space.input_shape,
        details,
        trained=False,
        weights=details["weights"],
    )


def _arch_in(space_name: str) -> Opener:
    def open_arch(target: str, *, seed: int = 0) -> ImageSource:
        from hwnas.core.spaces import create_space

        space = create_space(space_name)
        try:
            arch = space.parse(str(target))
        except ValueError as err:
            raise ExportSourceError(f"--arch is not a {space_name} architecture: {err}") from None
        return _fresh_network(space, arch, seed)

    return open_arch


for _name in ARCH_SPACES:
    register_source(_name)(_arch_in(_name))


@register_source("arch")
def source_from_arch(text: str, seed: int = 0) -> ImageSource:
    """The fresh-weight network of an NB201 or FBNet architecture string (detected by parsing).

    Weights are seeded; BatchNorm statistics are estimated on random batches, so activations
    have a trained network's scale (latency and the export check do not depend on trained
    values): for timing only.

    Raises:
        ArchStringError: when the string parses in neither space (both spaces' complaints).
    """
    from hwnas.core.spaces import ArchStringError, create_space

    errors = {}
    for name in ARCH_SPACES:
        space = create_space(name)
        try:
            arch = space.parse(text)
        except (ArchStringError, ValueError) as err:
            errors[name] = str(err)
            continue
        return _fresh_network(space, arch, seed)
    if "|" in text:  # written as an NB201 cell: its complaint is the useful one
        raise ArchStringError(f"--arch is not an NB201 cell: {errors['nb201']}")
    if "-" in text:
        raise ArchStringError(f"--arch is not an FBNet network: {errors['fbnet']}")
    raise ArchStringError(
        f"--arch {text!r} is neither an NB201 cell (|op~0|+|op~0|op~1|+|...|) nor an FBNet "
        f"network (22 layer choices joined by '-'): {errors['nb201']}; {errors['fbnet']}"
    )


@register_source("model")
def source_from_model(model_dir: str | Path, seed: int = 0) -> ImageSource:
    """The trained network of a folder written by `hwnas train` (`model.json`, safetensors).

    The exported graph is the `DeployableNetwork`: it takes images exactly as the training
    data holds them; int8 calibrates on the training images of that data and every file is
    scored on its test split.

    Raises:
        TrainedModelError: for a missing or damaged folder (sha256 checked).
    """
    from hwnas.core.deployable import load_trained_model

    model_dir = Path(model_dir)
    module, spec = load_trained_model(model_dir)
    input_shape = tuple(spec.input_shape)
    weights = (
        f"trained, loaded from {model_dir}"
        if spec.trained
        else f"fresh (random) weights saved in {model_dir}"
    )
    details = {
        **_costs(module, input_shape),
        "space": spec.space,
        "network": dict(spec.network),
        "input_shape": list(input_shape),
        "network_input": list(spec.network_input),
        "num_classes": spec.num_classes,
        "data": dict(spec.data),
        "weights": weights,
        "source": str(model_dir),
    }
    return ImageSource(
        "model",
        spec.arch,
        f"{spec.space}_model",
        module,
        input_shape,
        details,
        trained=spec.trained,
        weights=weights,
        data_spec=spec.data.get("spec"),
        num_classes=spec.num_classes,
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ExportSourceError(f"cannot read {path}: {err.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ExportSourceError(f"{path} is not JSON: {err}") from None


@register_source("darts")
def source_from_genotype(path: str | Path, seed: int = 0) -> ImageSource:
    """The DARTS network of a genotype: a `genotype.json` (fresh weights, built as `hwnas darts
    train` would: 8 channels, 5 cells, 10 classes, 3x32x32) or a folder written by `hwnas darts
    train` (`network.json` and trained `weights.safetensors`).

    Raises:
        ExportSourceError: for a missing or malformed file, or a genotype with `noise`
            operations (random outputs: no file can be checked against them).
    """
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from hwnas.core.spaces.darts_genotype import Genotype, load_genotype
    from hwnas.core.spaces.darts_net import DartsNetwork

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
        except (OSError, RuntimeError, SafetensorError) as err:
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
    return ImageSource(
        "darts",
        str(genotype),
        "darts",
        module,
        input_shape,
        details,
        trained=trained,
        weights=weights,
        num_classes=classes if trained else DARTS_CLASSES,
    )


@register_source("lrnn")
def source_from_lrnn(model_dir: str | Path, seed: int = 0, config=None) -> ModelSource:
    """The LRNN saved in `model_dir` by `hwnas lrnn train` (`LRNNSource`: step and unrolled).

    Raises:
        InputError: when the folder holds no such model.
    """
    from hwnas.methods.lrnn.export import LRNNSource

    return LRNNSource.from_folder(model_dir, config)


@register_source("nes")
def source_from_ensemble(ensemble_dir: str | Path, seed: int = 0) -> ImageSource:
    """The NES ensemble of `ensemble_dir` (`ensemble.json` and its member folders), as one
    network: the weighted mean of its members' softmax.

    Raises:
        InputError: when the folder holds no ensemble or a member is missing or damaged.
    """
    from hwnas.methods.nes.ensemble import ensemble_source

    return ensemble_source(ensemble_dir)


FLAG_KINDS = {
    "arch": "arch",
    "genotype": "darts",
    "ensemble": "nes",
    "lrnn": "lrnn",
    "model": "model",
}
"""The `hwnas export` flag naming a model, and the source kind it opens."""


def open_source(
    *,
    arch: str | None = None,
    genotype: str | Path | None = None,
    ensemble: str | Path | None = None,
    lrnn: str | Path | None = None,
    model: str | Path | None = None,
    seed: int = 0,
) -> ModelSource:
    """The source of exactly one of the `hwnas export` flags (see `FLAG_KINDS`).

    Raises:
        InputError: when none or several are given, or the one given cannot be read.
    """
    given = {k: v for k, v in locals().items() if k != "seed" and v is not None}
    if len(given) != 1:
        raise InputError(
            "name exactly one model to export (--model, --arch, --genotype, --ensemble or "
            f"--lrnn); got {sorted(given) or 'none'}"
        )
    ((flag, target),) = given.items()
    return create_source(FLAG_KINDS[flag], target, seed=seed)

"""An ensemble as one network: the mean of its members' softmax, exported as one ONNX graph.

The ensemble of M members predicts F(x) = sum_i w_i softmax(f_i(x)) with weights summing to 1
(equal weights for a deep ensemble, pick counts for selection with replacement), as in Zaidi,
Zela et al., "Neural Ensemble Search for Uncertainty Estimation and Dataset Shift" (NeurIPS
2021). `EnsembleModule` computes it in one forward pass, so the whole ensemble exports to one
ONNX file with one output and deploys as one engine.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwnas.core.export.report import ExportReport
from hwnas.errors import InputError

MANIFEST = "ensemble.json"
"""The file of a search's output folder that describes the selected ensemble."""


class EnsembleFileError(InputError):
    """An ensemble description that cannot be read, or members that do not fit it."""


class EnsembleModule(nn.Module):
    """The ensemble of `members`: input (B, C, H, W), output probabilities (B, classes).

    Args:
        members: Networks returning logits (B, classes); the same classes for all.
        weights: Non-negative weight per member, normalised here; None weighs them equally.
    """

    def __init__(self, members: Sequence[nn.Module], weights: Sequence[float] | None = None):
        super().__init__()
        if len(members) == 0:
            raise ValueError("an ensemble needs at least one member")
        weights = np.ones(len(members)) if weights is None else np.asarray(weights, float)
        if weights.shape != (len(members),):
            raise ValueError(
                f"weights must have one value per member ({len(members)}), got {weights.shape}"
            )
        if not np.all(np.isfinite(weights)) or weights.min() < 0 or weights.sum() <= 0:
            raise ValueError(f"weights must be finite, non-negative and not all 0, got {weights}")
        self.members = nn.ModuleList(members)
        self.register_buffer(
            "weights", torch.tensor(weights / weights.sum(), dtype=torch.float32), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([torch.softmax(member(x), dim=-1) for member in self.members])
        return (probs * self.weights[:, None, None]).sum(dim=0)


@dataclass(frozen=True)
class EnsembleManifest:
    """What `ensemble.json` says: the space, data shape, member folders and their weights.

    Attributes:
        members: Member folders, relative to the manifest's folder (e.g. ``pool/<id>``).
        weights: One weight per member (pick counts); equal weights where the file has none.
        extra: The file's other keys (such as ``selection``), kept as they are.
    """

    space: str
    num_classes: int
    input_shape: tuple[int, int, int]
    members: tuple[str, ...]
    weights: tuple[float, ...]
    extra: dict = field(default_factory=dict, repr=False)

    @classmethod
    def read(cls, path: str | Path) -> EnsembleManifest:
        """Reads and checks an ``ensemble.json``.

        Raises:
            EnsembleFileError: naming the file and the key that is missing or wrong.
        """
        path = Path(path)
        if not path.is_file():
            raise EnsembleFileError(
                f"{path} does not exist: point to the output folder of `hwnas nes search`"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise EnsembleFileError(f"{path} is not readable JSON: {err}") from None
        if not isinstance(data, dict):
            raise EnsembleFileError(f"{path} must hold a JSON object, got {type(data).__name__}")
        missing = [k for k in ("space", "num_classes", "input_shape", "members") if k not in data]
        if missing:
            raise EnsembleFileError(f"{path} lacks the keys {missing}")
        members = data["members"]
        if (
            not isinstance(members, list)
            or not members
            or not all(isinstance(m, str) for m in members)
        ):
            raise EnsembleFileError(f"{path}: 'members' must be a non-empty list of folder names")
        weights = data.get("weights") or [1.0] * len(members)
        try:
            weights = tuple(float(w) for w in weights)
            shape = tuple(int(v) for v in data["input_shape"])
            num_classes = int(data["num_classes"])
        except (TypeError, ValueError) as err:
            raise EnsembleFileError(f"{path}: weights, input_shape or num_classes: {err}") from None
        if len(weights) != len(members) or min(weights) < 0 or sum(weights) <= 0:
            raise EnsembleFileError(
                f"{path}: 'weights' needs one non-negative value per member "
                f"({len(members)}), not all 0; got {list(weights)}"
            )
        if len(shape) != 3 or min(shape) < 1 or num_classes < 2:
            raise EnsembleFileError(
                f"{path}: need input_shape [C, H, W] and num_classes >= 2, got "
                f"{data['input_shape']} and {data['num_classes']}"
            )
        known = {"space", "num_classes", "input_shape", "members", "weights"}
        return cls(
            space=str(data["space"]),
            num_classes=num_classes,
            input_shape=shape,
            members=tuple(members),
            weights=weights,
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict:
        data = asdict(self)
        return {**data.pop("extra"), **data}


def load_ensemble(out_dir: str | Path, manifest: str = MANIFEST):
    """The (ensemble module in eval mode, manifest) described by ``<out_dir>/<manifest>``.

    A member listed more than once is loaded once, with its weights added up.

    Raises:
        EnsembleFileError: for a bad description or a member of other classes or input shape;
            `hwnas.methods.nes.pool.PoolError` for a missing or damaged member folder.
    """
    from hwnas.methods.nes.pool import load_member

    out_dir = Path(out_dir)
    path = out_dir / manifest
    description = EnsembleManifest.read(path)
    weight_by_member: dict[str, float] = {}
    for name, weight in zip(description.members, description.weights):
        weight_by_member[name] = weight_by_member.get(name, 0.0) + weight
    modules = []
    for name in weight_by_member:
        spec, module = load_member(out_dir / name)
        if spec.num_classes != description.num_classes or (
            tuple(spec.input_shape) != description.input_shape
        ):
            raise EnsembleFileError(
                f"member {name} of {path} is for {spec.num_classes} classes and input "
                f"{tuple(spec.input_shape)}, but the ensemble is for "
                f"{description.num_classes} and {description.input_shape}"
            )
        modules.append(module)
    return EnsembleModule(modules, list(weight_by_member.values())).eval(), description


@dataclass(frozen=True)
class EnsembleExportReport(ExportReport):
    """The export pipeline's `ExportReport` of an ensemble graph, with the ensemble's views.

    No fields of its own: `members` (distinct member networks in the graph), `outputs`
    (outputs of the graph: 1, the probabilities), `row_sum_max_error` (largest |row sum - 1|
    of ONNX Runtime's probabilities) and `latency_reason` read the report.
    """

    JSON_VIEWS = (*ExportReport.JSON_VIEWS, "members", "outputs", "row_sum_max_error",
                  "latency_reason")  # fmt: skip

    @property
    def members(self) -> int:
        return int(self.details["member_networks"])

    @property
    def outputs(self) -> int:
        return int(self.details["outputs"])

    @property
    def row_sum_max_error(self) -> float:
        return float(self.primary.primary.check.row_sum_max_error)

    @property
    def latency_reason(self) -> str | None:
        return self.primary.primary.latency_reason


def _graph_outputs(path: Path) -> int:
    """Outputs of the ONNX graph at `path`; raises if it keeps weights in external files."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    from hwnas.core.export.onnx import OnnxExportError

    model = onnx.load(str(path), load_external_data=False)
    if any(uses_external_data(tensor) for tensor in model.graph.initializer):
        raise OnnxExportError(f"{path} keeps weights in external files; expected one file")
    return len(model.graph.output)


def ensemble_source(
    ensemble_dir: str | Path,
    *,
    module: EnsembleModule | None = None,
    input_shape: tuple[int, ...] | None = None,
    stem: str = "ensemble",
    inputs: np.ndarray | None = None,
    trained: bool = True,
):
    """The export pipeline's source of an ensemble: one graph, probabilities checked to sum to 1.

    Args:
        ensemble_dir: A search's output folder (`ensemble.json`); loaded unless `module` and
            `input_shape` are given (then it only names the ensemble).
        inputs: The check batch (B, C, H, W); default standard normal images.
    """
    from hwnas.core.complexity import count_macs, count_params
    from hwnas.core.export.sources import ImageSource

    details: dict = {"output": "weighted mean of the members' softmax probabilities"}
    weights = "given in memory"
    if module is None:
        module, manifest = load_ensemble(ensemble_dir)
        input_shape = manifest.input_shape
        details.update(
            space=manifest.space,
            members=list(manifest.members),
            member_weights=list(manifest.weights),
        )
        weights = f"loaded from the members of {ensemble_dir}"
    input_shape = tuple(input_shape)
    members = getattr(module, "members", None)
    details.update(
        params=count_params(module),
        macs=count_macs(module, (1, *input_shape)),
        member_networks=len(members) if members is not None else 1,
        weights=weights,
    )
    return ImageSource(
        "nes",
        str(ensemble_dir),
        stem,
        module.eval(),
        input_shape,
        details,
        trained=trained,
        weights=weights,
        probabilities=True,
        check_inputs=inputs,
    )


def _as_ensemble_report(report: ExportReport, path: Path) -> EnsembleExportReport:
    values = {f.name: getattr(report, f.name) for f in fields(report)}
    values["details"] = {**report.details, "outputs": _graph_outputs(path)}
    return EnsembleExportReport(**values)


def export_ensemble_onnx(
    module: EnsembleModule,
    input_shape: tuple[int, ...],
    path: str | Path,
    *,
    config=None,
    inputs: np.ndarray | None = None,
    check_batch: int = 4,
    seed: int = 0,
    intra_op_threads: int | None = None,
    timing=None,
    batch_size: int = 1,
    profile: bool = True,
) -> EnsembleExportReport:
    """Exports `module` as one ONNX graph through the export pipeline, checked and timed here.

    The pipeline is `hwnas.core.export.pipeline.run_export` (torch.export, legacy exporter as
    fallback, the ONNX checker, dynamic batch; the check in ONNX Runtime on the CPU against
    PyTorch and of the rows summing to 1; the timing of `hwnas export`). No report file is
    written (see `export_search_ensemble`).

    Args:
        module: The ensemble (any network returning probabilities works).
        input_shape: (C, H, W) of one input.
        config: An `hwnas.core.export.OnnxExport`; default opset 18 with output name ``probs``.
        inputs: The check batch (B, C, H, W); default `check_batch` seeded normal images.
        intra_op_threads: ONNX Runtime intra-op threads; None uses every usable core.
        timing: A `profilers.TimingConfig`; default that of `hwnas export` (at most 2 s).
        profile: False skips the timing (`measured_latency` None, with the reason).
    """
    from hwnas.core.export import OnnxExport
    from hwnas.core.export.pipeline import ExportSettings, run_export
    from profilers.timing import default_timing

    path = Path(path)
    if inputs is None:
        rng = np.random.default_rng(seed)
        inputs = rng.standard_normal((check_batch, *input_shape), dtype=np.float32)
    source = ensemble_source(
        path.parent, module=module, input_shape=input_shape, stem=path.stem, inputs=inputs
    )
    settings = ExportSettings(
        onnx=config or OnnxExport(output_name="probs"),
        timing=timing or default_timing(),
        intra_op_threads=intra_op_threads,
        batch_size=batch_size,
        check_batch=len(inputs),
        profile=profile,
    )
    report = run_export(source, path.parent, settings, report_name=None)
    return _as_ensemble_report(report, path)


def export_search_ensemble(
    out_dir: str | Path, manifest: str = MANIFEST, onnx_name: str = "ensemble.onnx", **kwargs
) -> EnsembleExportReport:
    """Exports the ensemble of a search's output folder to ``<out_dir>/<onnx_name>``.

    Loads it with `load_ensemble`, exports and checks it with `export_ensemble_onnx` (which
    takes `kwargs`), and writes the report to ``<out_dir>/<onnx_name stem>_export.json``.
    """
    out_dir = Path(out_dir)
    module, description = load_ensemble(out_dir, manifest)
    report = export_ensemble_onnx(module, description.input_shape, out_dir / onnx_name, **kwargs)
    record = {"manifest": str(out_dir / manifest), **report.to_json()}
    target = out_dir / f"{Path(onnx_name).stem}_export.json"
    target.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return report

"""The ensemble module, its description file, and its export as one checked ONNX graph."""

import json

import numpy as np
import pytest
import torch

from hwnas.core.batchnorm import random_batches, recalibrate_batchnorm
from hwnas.core.export import OnnxExport
from hwnas.methods.nes.ensemble import (
    EnsembleFileError,
    EnsembleModule,
    export_ensemble_onnx,
    export_search_ensemble,
    load_ensemble,
)
from hwnas.methods.nes.metrics import ensemble_probs
from hwnas.methods.nes.pool import MemberSpec, build_member, save_member
from profilers.timing import TimingConfig

INPUT_SHAPE = (1, 8, 8)
ARCHS = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|nor_conv_3x3~0|skip_connect~1|none~2|",
)  # fmt: skip
QUICK_TIMING = TimingConfig(warmup_runs=2, warmup_s=0.0, min_runs=5, max_runs=30, max_time_s=0.3)


def _member(arch: str, seed: int, num_classes: int = 10):
    spec = MemberSpec("nb201", arch, seed, num_classes, INPUT_SHAPE, channels=4, cells=1)
    module = build_member(spec)
    with torch.no_grad():
        module.classifier.weight.mul_(20)  # confident members, so the probabilities differ
    return spec, recalibrate_batchnorm(module, random_batches((16, *INPUT_SHAPE), count=2))


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory):
    """An output folder as `hwnas nes search` writes it: 3 members, one picked twice."""
    out_dir = tmp_path_factory.mktemp("search")
    names = []
    for seed, arch in enumerate(ARCHS):
        spec, module = _member(arch, seed)
        save_member(out_dir / "pool" / spec.id, spec, module, metrics={})
        names.append(f"pool/{spec.id}")
    manifest = {
        "space": "nb201",
        "num_classes": 10,
        "input_shape": list(INPUT_SHAPE),
        "members": [names[0], names[1], names[2], names[0]],
        "weights": [1, 1, 1, 1],
        "selection": {"method": "test"},
    }
    (out_dir / "ensemble.json").write_text(json.dumps(manifest))
    return out_dir


def test_forward_is_the_weighted_mean_of_member_softmax():
    members = [_member(arch, seed)[1] for seed, arch in enumerate(ARCHS)]
    x = torch.randn(5, *INPUT_SHAPE)
    with torch.no_grad():
        member_probs = np.stack([torch.softmax(m(x), dim=-1).numpy() for m in members])
        ensemble = EnsembleModule(members, weights=[2, 1, 1]).eval()
        probs = ensemble(x).numpy()
        equal = EnsembleModule(members).eval()(x).numpy()
    np.testing.assert_allclose(probs, ensemble_probs(member_probs, [2, 1, 1]), atol=1e-6)
    np.testing.assert_allclose(equal, member_probs.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert np.abs(member_probs[0] - member_probs[1]).max() > 0.1


def test_load_ensemble_merges_repeated_members(search_dir):
    module, manifest = load_ensemble(search_dir)
    assert len(module.members) == 3
    np.testing.assert_allclose(module.weights.numpy(), [0.5, 0.25, 0.25])
    assert manifest.input_shape == INPUT_SHAPE and manifest.extra["selection"]["method"] == "test"
    assert not module.training


def test_export_matches_pytorch_as_one_file_with_one_output(search_dir):
    report = export_search_ensemble(search_dir, timing=QUICK_TIMING)
    assert report.passed, report
    assert report.max_abs_error <= 1e-4 and report.row_sum_max_error <= 1e-4
    assert report.outputs == 1 and report.members == 3
    onnx_files = sorted(p.name for p in search_dir.iterdir() if p.name.startswith("ensemble."))
    assert onnx_files == ["ensemble.json", "ensemble.onnx"]  # no external weight files
    assert report.measured_latency["median_ms"] > 0 and report.latency_reason is None
    assert report.measurement["runtime"]["runtime"] == "onnxruntime"
    record = json.loads((search_dir / "ensemble_export.json").read_text())
    assert record["max_abs_error"] == report.max_abs_error


def test_export_without_profiling_says_why_no_latency(tmp_path):
    torch.manual_seed(0)
    members = [torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)) for _ in range(2)]
    config = OnnxExport(exporter="legacy", output_name="probs")
    report = export_ensemble_onnx(
        EnsembleModule(members), INPUT_SHAPE, tmp_path / "e.onnx", config=config, profile=False
    )
    assert report.passed and report.exporter == "legacy" and report.members == 2
    assert report.measured_latency is None and "profile=False" in report.latency_reason


def _write(folder, **changes):
    folder.mkdir(exist_ok=True)
    base = {"space": "nb201", "num_classes": 10, "input_shape": [1, 8, 8], "members": ["a"]}
    (folder / "ensemble.json").write_text(json.dumps({**base, **changes}))
    return folder


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"members": []}, "non-empty list"),
        ({"weights": [1, 2]}, "one non-negative value per member"),
        ({"input_shape": [8, 8]}, r"input_shape \[C, H, W\]"),
        ({"num_classes": "ten"}, "num_classes"),
    ],
)
def test_bad_manifest_is_a_user_error(tmp_path, changes, match):
    with pytest.raises(EnsembleFileError, match=match):
        load_ensemble(_write(tmp_path / "out", **changes))


def test_missing_manifest_and_mismatched_member_are_user_errors(tmp_path, search_dir):
    with pytest.raises(EnsembleFileError, match="does not exist"):
        load_ensemble(tmp_path)
    (tmp_path / "ensemble.json").write_text(json.dumps({"space": "nb201"}))
    with pytest.raises(EnsembleFileError, match="lacks the keys"):
        load_ensemble(tmp_path)
    member = next((search_dir / "pool").iterdir())
    folder = _write(tmp_path / "other", num_classes=5, members=[str(member)])
    with pytest.raises(EnsembleFileError, match="10 classes"):
        load_ensemble(folder)


def test_module_rejects_bad_members_and_weights():
    with pytest.raises(ValueError, match="at least one member"):
        EnsembleModule([])
    with pytest.raises(ValueError, match="one value per member"):
        EnsembleModule([torch.nn.Identity()], weights=[1, 1])
    with pytest.raises(ValueError, match="not all 0"):
        EnsembleModule([torch.nn.Identity()], weights=[0])

"""`hwnas run`'s parts: the profiled network setting, its store keys, the report's wording."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hwnas.cli.main import build_parser
from hwnas.cli.run import TRAINING_DEFAULTS, print_run
from hwnas.core.export.report import AccuracyReport, FileAccuracy, PrecisionChoice, SlowerFile
from hwnas.errors import InputError
from hwnas.jobs.pipeline import PipelineError, TrainingPlan, _check_shipped_setting, shipped_files
from hwnas.jobs.profile import ProfileConfig
from hwnas.jobs.profile_setting import NetworkSetting, split_key

DIGITS = NetworkSetting((1, 8, 8), 10, {"channels": 16, "cells_per_stage": 1})
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


def test_setting_label_and_store_key_keep_shapes_apart():
    assert DIGITS.label == "1x8x8-classes10-cells_per_stage1-channels16"
    key = DIGITS.store_key(ARCH)
    assert split_key(key) == (ARCH, DIGITS.label)
    assert split_key(ARCH) == (ARCH, None)
    other = NetworkSetting((3, 32, 32), 10, {"channels": 16, "cells_per_stage": 1})
    resized = NetworkSetting((1, 8, 8), 10, {"channels": 16, "cells_per_stage": 1}, input_size=32)
    labels = {DIGITS.label, other.label, resized.label}
    assert len(labels) == 3, labels
    # Resizing to the data's own side is no resize: the same network, the same key.
    assert NetworkSetting((1, 8, 8), 10, dict(DIGITS.sizes), input_size=8) == DIGITS


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_shape": (8, 8), "num_classes": 10},
        {"input_shape": (1, 0, 8), "num_classes": 10},
        {"input_shape": (1, 8, 8), "num_classes": 0},
        {"input_shape": (1, 8, 8), "num_classes": 10, "sizes": {"channels": 0}},
        {"input_shape": (1, 8, 8), "num_classes": 10, "input_size": 0},
    ],
)
def test_bad_setting_is_an_input_error(kwargs):
    with pytest.raises(InputError):
        NetworkSetting(**kwargs)


def test_profile_config_round_trips_its_setting():
    config = ProfileConfig(samples=3, network=DIGITS)
    again = ProfileConfig.from_dict(config.to_dict())
    assert again.network == DIGITS
    assert ProfileConfig.from_dict(ProfileConfig().to_dict()).network is None


def test_setting_of_a_trained_spec_is_the_profiled_one():
    spec = DIGITS.model_spec("nb201", ARCH)
    assert spec.input_shape == (1, 8, 8) and spec.network_input == (3, 8, 8)
    assert NetworkSetting.of_model(spec) == DIGITS
    resized = NetworkSetting((1, 8, 8), 10, dict(DIGITS.sizes), input_size=16)
    assert resized.model_spec("nb201", ARCH).network_input == (3, 16, 16)
    assert NetworkSetting.of_model(resized.model_spec("nb201", ARCH)) == resized


def test_profiled_network_takes_the_datas_images():
    torch = pytest.importorskip("torch")
    network, shape = DIGITS.build("nb201", ARCH)
    assert shape == (1, 8, 8)
    with torch.no_grad():
        assert tuple(network.eval()(torch.rand(2, *shape)).shape) == (2, 10)


def test_a_trained_network_of_another_size_is_refused(tmp_path):
    from hwnas.core.deployable import build_deployable
    from hwnas.core.trained import save_trained_model

    deeper = NetworkSetting((1, 8, 8), 10, {"channels": 16, "cells_per_stage": 2})
    spec = deeper.model_spec("nb201", ARCH)
    save_trained_model(tmp_path / "model", build_deployable(spec).state_dict(), spec)
    _check_shipped_setting(tmp_path / "model", deeper)
    with pytest.raises(PipelineError, match="not the profiled one"):
        _check_shipped_setting(tmp_path / "model", DIGITS)


def test_training_plan_validates_and_always_ships_fp32():
    assert TrainingPlan(precisions=("int8",)).precisions == ("fp32", "int8")
    with pytest.raises(PipelineError, match="--epochs"):
        TrainingPlan(epochs=0)


def test_run_names_the_ranking_table_and_the_training_data_apart():
    parser = build_parser()
    for flag in ("--rank-by-table", "--dataset"):
        args = parser.parse_args(["run", flag, "cifar100", "--data", "mnist"])
        assert (args.dataset, args.data) == ("cifar100", "mnist")
    args = parser.parse_args(["run"])
    assert (args.dataset, args.data) == ("cifar10", "digits")
    assert {k: getattr(TrainingPlan, k) for k in TRAINING_DEFAULTS} == TRAINING_DEFAULTS
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--rank-by-table", "digits"])  # data is not a table


def _result(int8_latency_ms: float, slower: tuple = (), int8_drop: float = 0.3):
    """A pipeline result whose export timed fp32 at 0.2 ms and int8 as given."""
    accuracy = AccuracyReport(
        data="digits",
        split="test",
        images=359,
        pytorch_top1_percent=97.5,
        files=(
            FileAccuracy("fp32", "m.onnx", 97.5, 0.0),
            FileAccuracy("int8", "m_int8.onnx", 97.5 - int8_drop, int8_drop),
        ),
    )
    latency = {"fp32": 0.2, "int8": int8_latency_ms}
    choice = PrecisionChoice(
        fastest=min(latency, key=latency.get),
        fastest_within_drop=min(latency, key=latency.get),
        max_accuracy_drop_points=1.0,
        slower_than_fp32=slower,
    )
    paths = {"fp32": "m.onnx", "int8": "m_int8.onnx"}
    report = SimpleNamespace(
        precisions=("fp32", "int8"),
        accuracy=accuracy,
        accuracy_reason=None,
        choice=choice,
        model_label="trained",
        device="local",
        batch_size=1,
        onnx_path="export/m.onnx",
        file=lambda p: SimpleNamespace(path=paths[p]),
        latency_ms=latency.get,
        # the fp32 file's verdict from rounds, timed as the profile times cells
        details={
            "budget_verdict": {"median_ms": 0.2, "verdict": "yes"},
            "budget_verdict_raw": {"median_ms": 0.21},
        },
        latency_for_budget=SimpleNamespace(precision="fp32"),
    )
    chosen = SimpleNamespace(arch=ARCH, predicted_latency_ms=0.19, accuracy=93.1)
    train = SimpleNamespace(
        epochs=15,
        epochs_run=0,
        resumed_from=15,
        val_accuracy=99.0,
        test_accuracy=97.5,
        best_epoch=12,
        train_seconds=30.0,
        model_dir="train/nb201_00001",
    )
    profile = SimpleNamespace(
        device="local", latency_ms={ARCH: 0.2}, measured=(), resumed=(ARCH,), rounds=None
    )
    return SimpleNamespace(
        export=report,
        budget_ms=0.25,
        budget_from_median=False,
        generate=SimpleNamespace(chosen=chosen),
        profile=profile,
        setting=DIGITS,
        data="digits",
        rank_by_table="cifar10",
        train=train,
        summary_path="summary.json",
    )


def test_report_flags_a_precision_slower_than_fp32(capsys):
    result = _result(0.32, slower=(SlowerFile("int8", 0.32, 0.2),))
    rows = {row["precision"]: row for row in shipped_files(result)}
    assert rows["int8"]["slower_than_fp32"] == pytest.approx(1.6)
    assert rows["fp32"]["slower_than_fp32"] is None
    # the verdict is the judged file's (rounds); the other file's one window is not judged
    assert (rows["fp32"]["within_budget"], rows["int8"]["within_budget"]) == (True, None)
    assert (rows["fp32"]["verdict"], rows["fp32"]["raw_latency_ms"]) == ("yes", 0.21)
    assert (rows["fp32"]["latency_timed_as"], rows["int8"]["latency_timed_as"]) == (
        "rounds",
        "window",
    )
    assert rows["int8"]["top1_percent"] == 97.2
    print_run(result, "no margin")
    out = capsys.readouterr().out
    int8_line = next(line for line in out.splitlines() if line.strip().startswith("int8"))
    assert "SLOWER than fp32 (1.60x)" in int8_line and "97.20 %" in int8_line
    assert "ranked by the NAS-Bench-201 cifar10 table: 93.10%" in out
    assert "not of the file below" in out
    assert "profiled at the data's shape: input 1x8x8 (digits)" in out
    assert "checkpoint reused" in out
    # The output ends with what shipped: files, their accuracy and latency, the fastest file.
    assert out.rstrip().splitlines()[-3].startswith("fastest file: fp32 (m.onnx)")


def test_report_without_a_slower_file_flags_nothing(capsys):
    print_run(_result(0.12), "no margin")
    out = capsys.readouterr().out
    assert "SLOWER" not in out and "DROP" not in out
    assert "fastest file: int8 (m_int8.onnx)" in out


def test_report_flags_an_accuracy_drop_above_the_limit(capsys):
    print_run(_result(0.32, int8_drop=6.13), "no margin")
    out = capsys.readouterr().out
    int8_line = next(line for line in out.splitlines() if line.strip().startswith("int8"))
    assert "DROP above 1 point(s)" in int8_line and "6.13" in int8_line
    fp32_line = next(line for line in out.splitlines() if line.strip().startswith("fp32"))
    assert "DROP" not in fp32_line

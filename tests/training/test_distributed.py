"""torchrun with 2 CPU processes (gloo, DistributedDataParallel) trains as well as one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
TRAIN = [
    "-m", "hwnas", "train", "--arch", ARCH, "--data", "digits", "--channels", "8",
    "--cells", "1", "--epochs", "6", "--batch-size", "64", "--threads", "1",
]  # fmt: skip


def _result(out: Path) -> dict:
    return json.loads((out / "result.json").read_text())


@pytest.mark.slow
def test_two_gloo_processes_within_one_point_of_one_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    single = subprocess.run(
        [sys.executable, *TRAIN, "--out", str(tmp_path / "one")],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert single.returncode == 0, single.stderr
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
    ]
    double = subprocess.run(
        [*torchrun, *TRAIN, "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True
    )
    assert double.returncode == 0, double.stderr
    assert double.stdout.count("model: ") == 1  # rank 0 alone reports
    one, two = _result(tmp_path / "one"), _result(tmp_path / "two")
    assert json.loads((tmp_path / "two" / "train.json").read_text())["processes"] == 2
    assert len((tmp_path / "two" / "train_log.jsonl").read_text().splitlines()) == 6
    assert one["test_accuracy"] > 90
    assert abs(one["test_accuracy"] - two["test_accuracy"]) <= 1.0, (one, two)

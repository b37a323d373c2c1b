"""A training killed with SIGKILL after its first checkpoint resumes to bit-identical weights."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def _command(out: Path) -> list[str]:
    return [
        sys.executable, "-m", "hwnas", "train", "--arch", ARCH, "--data", "digits",
        "--max-images", "200", "--channels", "4", "--cells", "1", "--epochs", "3",
        "--batch-size", "32", "--threads", "1", "--seed", "3", "--out", str(out),
    ]  # fmt: skip


def _epoch(out: Path) -> int:
    try:
        return json.loads((out / "checkpoint" / "meta.json").read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def _assert_same_tensors(a: Path, b: Path) -> None:
    first, second = load_file(str(a)), load_file(str(b))
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


@pytest.mark.slow
def test_sigkill_after_first_checkpoint_then_rerun_is_bit_identical(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    whole = subprocess.run(_command(tmp_path / "whole"), env=env, capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        _command(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while _epoch(killed) < 1 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    done = _epoch(killed)
    assert 1 <= done < 3, "the kill must land between the first and the last epoch"
    assert not (killed / "model.json").exists()

    rerun = subprocess.run(_command(killed), env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resumed from epoch {done}/3" in rerun.stdout
    for name in (
        "model.safetensors",
        "checkpoint/weights.safetensors",
        "checkpoint/optimizer.safetensors",
    ):
        _assert_same_tensors(tmp_path / "whole" / name, killed / name)
    whole_log = (tmp_path / "whole" / "train_log.jsonl").read_text().splitlines()
    killed_log = (killed / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(x)["train_loss"] for x in whole_log] == [
        json.loads(x)["train_loss"] for x in killed_log
    ]

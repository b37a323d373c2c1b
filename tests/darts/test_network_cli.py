"""Training a genotype from scratch, its ONNX export, and the `hwnas darts` commands."""

import json

import pytest

from hwnas.cli import main
from hwnas.core.datasets import Dataset, load_dataset
from hwnas.core.spaces.darts_genotype import Genotype
from hwnas.jobs.darts import train_job
from hwnas.methods.darts.network import DartsNetwork, TrainConfig

GENOTYPE = Genotype.from_string(
    "darts:normal=sep_conv_3x3~0,skip_connect~1,dil_conv_3x3~0,sep_conv_5x5~2,"
    "max_pool_3x3~1,skip_connect~3,avg_pool_3x3~0,dil_conv_5x5~4;reduce=max_pool_3x3~0,"
    "sep_conv_3x3~1,skip_connect~0,avg_pool_3x3~2,dil_conv_3x3~1,max_pool_3x3~3,"
    "sep_conv_5x5~0,skip_connect~2"
)


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits")
    return Dataset("digits", data.train.subset(128), data.test.subset(64))


def test_network_trains_and_matches_onnx_runtime(tmp_path, digits):
    config = TrainConfig(epochs=2, batch_size=32, channels=4, layers=3)
    report = train_job(GENOTYPE, digits, config, tmp_path)
    assert report["max_abs_error"] < 1e-4
    assert report["train_losses"][1] < report["train_losses"][0]
    assert (tmp_path / "weights.safetensors").is_file() and (tmp_path / "network.onnx").is_file()
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["genotype"] == str(GENOTYPE)


def test_reduction_cells_halve_odd_sizes():
    import torch

    net = DartsNetwork(GENOTYPE, channels=2, layers=3, num_classes=10, in_channels=1).eval()
    assert net(torch.randn(2, 1, 7, 7)).shape == (2, 10)


def test_cli_search_writes_genotype_trajectory_and_plot(tmp_path, capsys):
    out = tmp_path / "search"
    code = main([
        "darts", "search", "--space", "s2", "--mode", "es", "--epochs", "2", "--data", "digits",
        "--max-images", "64", "--batch-size", "16", "--channels", "2", "--layers", "3",
        "--eigen-iters", "3", "--out", str(out),
    ])  # fmt: skip
    assert code == 0
    genotype = json.loads((out / "genotype.json").read_text())
    assert genotype["space"] == "s2"
    records = json.loads((out / "eigenvalues.json").read_text())
    assert len(records) == 2 and all("eigenvalue" in r for r in records)
    assert (out / "eigenvalues.png").stat().st_size > 1000
    assert json.loads((out / "events.json").read_text()) == []
    # a genotype of S2 is refused where a DARTS-space genotype is expected
    code = main(["darts", "train", "--genotype", str(out / "genotype.json"), "--space", "darts",
                 "--out", str(tmp_path / "train")])  # fmt: skip
    assert code == 2
    assert "space 's2', expected 'darts'" in capsys.readouterr().err


def test_cli_rejects_unknown_space_and_missing_data(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["darts", "search", "--space", "s9", "--out", str(tmp_path)])
    code = main(
        ["darts", "search", "--data", f"cifar10:{tmp_path / 'none'}", "--out", str(tmp_path)]
    )
    assert code == 2 and "does not exist" in capsys.readouterr().err

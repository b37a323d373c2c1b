"""`hwnas modnas train | generate` and `hwnas generate --device-latencies` end to end."""

from __future__ import annotations

import json

import pytest

from hwnas.cli import main
from hwnas.core.spaces import NB201Arch
from hwnas.core.tables import load_latency_table, reference_archs


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def refs_csv(tmp_path):
    by_arch = load_latency_table("nb201").by_arch("pixel3")
    path = tmp_path / "pixel3.csv"
    rows = [f"{a},{by_arch[a]}" for a in reference_archs("nb201")]
    path.write_text("arch,latency_ms\n" + "\n".join(rows) + "\n")
    return path


def test_modnas_generate_prints_one_cell_per_line(capsys, model_dir, refs_csv):
    code, out, err = run_cli(
        capsys, "modnas", "generate", "--model", model_dir, "--device-latencies", refs_csv
    )
    assert code == 0
    lines = out.splitlines()
    assert lines and all(NB201Arch.from_string(line) for line in lines)
    assert len(set(lines)) == len(lines)
    assert f"24 preference vectors gave {len(lines)} distinct cells" in err


def test_generate_for_a_budget_with_a_modnas_model(capsys, model_dir, refs_csv):
    code, out, _ = run_cli(
        capsys,
        "generate",
        "--device-latencies",
        refs_csv,
        "--latency-budget-ms",
        "8",
        "--modnas-model",
        model_dir,
    )
    assert code == 0
    first, latency, accuracy, summary = out.splitlines()
    NB201Arch.from_string(first)
    assert "budget 8 ms" in latency and "85% bound" in latency
    assert accuracy.startswith("cifar10 test accuracy:")
    assert summary.startswith("MODNAS:")


def test_the_shipped_model_answers_within_budget(capsys, refs_csv):
    code, out, _ = run_cli(
        capsys, "generate", "--device-latencies", refs_csv, "--latency-budget-ms", "10"
    )
    assert code == 0
    arch = out.splitlines()[0]
    true = load_latency_table("nb201").by_arch("pixel3")[arch]
    assert true <= 10.0


def test_generate_errors_are_one_line(capsys, tmp_path, refs_csv):
    code, _, err = run_cli(
        capsys, "modnas", "generate", "--model", tmp_path, "--device-latencies", refs_csv
    )
    assert code == 2 and "hwnas modnas train" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(
        capsys, "generate", "--device-latencies", refs_csv, "--latency-budget-ms", "0.001"
    )
    assert code == 2 and "the fastest" in err
    code, _, err = run_cli(
        capsys,
        "generate",
        "--device-latencies",
        refs_csv,
        "--latency-budget-ms",
        "10",
        "--dataset",
        "cifar100",
    )
    assert code == 2 and "--dataset cifar100" in err


def test_modnas_train_writes_a_model_its_evaluation_and_fronts(capsys, tmp_path, predictor):
    from hwnas.methods.predictor import save_model

    save_model(predictor, tmp_path / "predictor")
    out_dir = tmp_path / "model"
    code, out, err = run_cli(
        capsys,
        "modnas",
        "train",
        "--out",
        out_dir,
        "--predictor",
        tmp_path / "predictor",
        "--devices",
        "pixel3,gold_6240",
        "--steps",
        "5",
        "--surrogate-epochs",
        "1",
        "--preferences",
        "2",
    )
    assert code == 0, err
    assert "trained MODNAS (surrogate) over 2 devices" in out
    evaluation = json.loads((out_dir / "evaluation.json").read_text())
    assert set(evaluation["devices"]) == {"pixel3", "gold_6240"}
    assert all(0 < d["ratio"] <= 1 for d in evaluation["devices"].values())
    assert (out_dir / "fronts.png").stat().st_size > 10_000
    meta = json.loads((out_dir / "modnas.json").read_text())
    assert meta["train"]["steps"] == 5 and meta["training_devices"] == ["pixel3", "gold_6240"]
    code, _, err = run_cli(
        capsys,
        "modnas",
        "train",
        "--out",
        out_dir,
        "--predictor",
        tmp_path / "predictor",
        "--devices",
        "nosuch",
    )
    assert code == 2 and "nosuch" in err

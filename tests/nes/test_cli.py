"""`hwnas nes search` end to end on a tiny pool: files, resume, latency budget, user errors."""

import json

import numpy as np
import pytest

from hwnas.cli import main

BASE = [
    "nes", "search", "--data", "digits", "--max-train", "60", "--epochs", "1", "--pool", "3",
    "--size", "2", "--channels", "4", "--corruptions", "gaussian_noise,rotation",
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("nes")
    assert main([*BASE, "--algorithm", "re", "--out", str(out)]) == 0
    return out


def test_search_writes_pool_selection_metrics_and_diagram(run, capsys):
    from hwnas.methods.nes.ensemble import load_ensemble
    from hwnas.methods.nes.metrics import ensemble_probs
    from hwnas.methods.nes.pool import load_predictions

    for name in ("ensemble.json", "deep_ensemble.json", "metrics.json", "search.json"):
        assert (run / name).is_file()
    assert (run / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["images"]["train"] == 60
    for name in ("nes", "deep_ensemble"):
        figures = metrics["in_distribution"][name]
        assert figures["oracle_nll"] <= figures["nll"] <= figures["mean_member_nll"] + 1e-9
        assert set(metrics["shift"]["rotation"]) == {"1", "2", "3", "4", "5"}
        assert metrics["shift_mean_over_corruptions"]["5"][name]["error"] >= 0
    manifest = json.loads((run / "ensemble.json").read_text())
    assert len(manifest["members"]) == 2 and manifest["selection"]["algorithm"] == "re"
    search = json.loads((run / "search.json").read_text())
    assert len(search["pool"]) == 3 and len(search["history"]) == 1
    # the ensemble the job selected is the one N2's loader rebuilds
    module, _ = load_ensemble(run)
    from hwnas.core.datasets import load_dataset

    test = load_dataset("digits").test
    stored = np.stack([load_predictions(run / m)["test"] for m in manifest["members"]])
    np.testing.assert_allclose(
        _run(module, test.x),
        ensemble_probs(stored, manifest["weights"]),
        atol=1e-5,
    )


def _run(module, x):
    import torch

    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def test_latency_budget_on_resumed_pool(run, capsys):
    archs = [m["arch"] for m in json.loads((run / "search.json").read_text())["pool"]]
    csv = run / "latency.csv"
    csv.write_text("arch,latency_ms\n" + "".join(f"{a},{i + 1}\n" for i, a in enumerate(archs)))
    capsys.readouterr()
    args = [*BASE, "--algorithm", "re", "--out", str(run), "--latencies", str(csv)]
    assert main([*args, "--latency-budget-ms", "4", "--no-baseline"]) == 0
    out = capsys.readouterr().out
    assert "trained" not in out and out.count("resumed") == 3  # nothing retrained
    selection = json.loads((run / "ensemble.json").read_text())["selection"]
    assert selection["latency_ms"] <= 4 and selection["latency"]["source"] == "measured"

    assert main([*args, "--latency-budget-ms", "2.5"]) == 2
    err = capsys.readouterr().err
    assert "no ensemble of 2 members fits 2.5 ms" in err and "takes 3 ms (1 + 2 ms)" in err


def test_user_errors_exit_2(tmp_path, capsys):
    predictor = tmp_path / "predictor"
    assert main([*BASE, "--out", str(tmp_path), "--predictor", str(predictor)]) == 2
    assert "only apply with --latency-budget-ms" in capsys.readouterr().err
    assert main([*BASE, "--out", str(tmp_path), "--data", "imagenet"]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    assert main([*BASE, "--out", str(tmp_path), "--corruptions", "snow"]) == 2
    assert "unknown corruption(s) snow; known:" in capsys.readouterr().err
    assert main([*BASE, "--out", str(tmp_path), "--algorithm", "re", "--children", "3"]) == 2
    assert "NES-RE trains 1 to P (2) children per iteration, got 3" in capsys.readouterr().err


def test_budget_on_the_members_timed_here(run, capsys):
    args = [*BASE, "--algorithm", "re", "--out", str(run), "--no-baseline", "--corruptions", ""]
    timed = ["--measure-on", "local", "--exporter", "legacy", "--measure-max-time-s", "0.1"]
    assert main([*args, *timed, "--latency-budget-ms", "1000"]) == 0
    selection = json.loads((run / "ensemble.json").read_text())["selection"]
    latency = selection["latency"]
    assert latency["source"] == "members timed" and latency["measure"]["batch_size"] == 1
    assert len(latency["member_latency_ms"]) == 3 and min(latency["member_latency_ms"]) > 0
    assert "ms of the 1000 ms budget (sum over members, members timed on local" in (
        capsys.readouterr().out
    )
    members = json.loads((run / "search.json").read_text())["pool"]
    assert all((run / "pool" / m["id"] / "latency.json").is_file() for m in members)
    # the budget binds on what was timed: below the two fastest members' sum nothing fits
    fastest = sum(sorted(latency["member_latency_ms"])[:2])
    capsys.readouterr()
    assert main([*args, *timed, "--latency-budget-ms", f"{0.9 * fastest:.6f}"]) == 2
    assert "no ensemble of 2 members fits" in capsys.readouterr().err


def test_measure_errors_exit_2(run, tmp_path, capsys):
    args = [*BASE, "--out", str(run), "--latency-budget-ms", "5"]
    assert main([*args, "--measure-on", "1080ti_1"]) == 2
    assert "known only from published measurement tables" in capsys.readouterr().err
    assert main([*args, "--measure-on", "local", "--predictor", str(tmp_path)]) == 2
    assert "exactly one latency source" in capsys.readouterr().err
    assert main([*BASE, "--out", str(tmp_path), "--measure-on", "local"]) == 2
    assert "--measure-on only apply with --latency-budget-ms" in capsys.readouterr().err

"""`hwnas predictor fit|adapt|predict|evaluate` end to end on small settings, and bad input."""

import json

import numpy as np
import pytest

from hwnas.cli import main
from hwnas.core.tables import load_latency_table, reference_archs
from hwnas.methods.predictor import load_model

TINY = ["--epochs", "1", "--hidden", "16", "--threads", "1"]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_samples(path, space, device, extra=0, value=None):
    table = load_latency_table(space)
    column, rows = table.column(device), table.row_of
    refs = reference_archs(space)
    archs = list(refs) + [a for a in table.archs if a not in refs][:extra]
    lines = ["arch,latency_ms"]
    lines += [f"{a},{column[rows[a]] if value is None else value}" for a in archs]
    path.write_text("\n".join(lines) + "\n")
    return archs


@pytest.fixture(scope="module")
def nb201_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "nb201"
    code = main(["predictor", "fit", "--space", "nb201", "--devices", "1080ti_1", "gold_6240",
                 "--out", str(out), *TINY])  # fmt: skip
    assert code == 0
    return out


def test_fit_adapt_predict_in_input_order(capsys, nb201_model, tmp_path):
    meta = json.loads((nb201_model / "model.json").read_text())
    assert meta["space"] == "nb201" and set(meta["training_devices"]) == {"1080ti_1", "gold_6240"}
    assert (nb201_model / "model.safetensors").stat().st_size > 0
    write_samples(tmp_path / "s.csv", "nb201", "silver_4114", extra=6)
    code, out, _ = run_cli(capsys, "predictor", "adapt", "--model", nb201_model,
                           "--samples", tmp_path / "s.csv", "--out", tmp_path / "a",
                           "--device-name", "silver")  # fmt: skip
    assert code == 0 and "from 16 samples" in out
    table = load_latency_table("nb201")
    archs = [table.archs[i] for i in (5, 3, 5000, 3)]  # repeats and any order
    (tmp_path / "archs.txt").write_text("\n".join(archs) + "\n")
    code, out, _ = run_cli(capsys, "predictor", "predict", "--model", tmp_path / "a",
                           "--archs", tmp_path / "archs.txt")  # fmt: skip
    lines = out.splitlines()
    assert code == 0 and lines[0] == "arch,latency_ms" and len(lines) == 5
    assert [line.rsplit(",", 1)[0] for line in lines[1:]] == archs
    values = [float(line.rsplit(",", 1)[1]) for line in lines[1:]]
    assert values[1] == values[3] and all(v > 0 for v in values)
    model = load_model(tmp_path / "a")
    assert model.device["name"] == "silver" and model.device["n_samples"] == 16
    np.testing.assert_allclose(model.predict([table.archs[5]]), values[0], rtol=1e-5)


def test_zero_shot_adaptation_predicts_like_the_training_device(capsys, nb201_model, tmp_path):
    """A device measured like a training device gets that device's predictions back."""
    write_samples(tmp_path / "s.csv", "nb201", "gold_6240")
    assert main(["predictor", "adapt", "--model", str(nb201_model), "--samples",
                 str(tmp_path / "s.csv"), "--out", str(tmp_path / "a"), "--steps", "0"]) == 0  # fmt: skip
    archs = load_latency_table("nb201").archs[:50]
    np.testing.assert_allclose(
        load_model(tmp_path / "a").predict(archs),
        load_model(nb201_model).predict(archs, device="gold_6240"),
        rtol=1e-5,
    )


@pytest.mark.parametrize(
    ("contents", "fragment"),
    [
        ("missing", "lack 3 of the 10 reference architectures"),
        ("nan", "must be a finite positive number, got nan"),
        ("negative", "must be a finite positive number, got -2.0"),
        ("badarch", "line 2: not a nb201 architecture"),
        ("header", "must name the columns 'arch' and 'latency_ms'"),
    ],
)
def test_bad_samples_files(capsys, nb201_model, tmp_path, contents, fragment):
    path = tmp_path / "s.csv"
    archs = write_samples(path, "nb201", "gold_6240")
    text = path.read_text()
    if contents == "missing":
        text = "\n".join(text.splitlines()[:-3]) + "\n"
    elif contents == "nan":
        text = text.replace(text.splitlines()[2].rsplit(",", 1)[1], "nan", 1)
    elif contents == "negative":
        text = text.replace(text.splitlines()[2].rsplit(",", 1)[1], "-2.0", 1)
    elif contents == "badarch":
        text = text.replace(archs[0], "|conv~0|+|", 1)
    elif contents == "header":
        text = text.replace("latency_ms", "ms", 1)
    path.write_text(text)
    code, _, err = run_cli(capsys, "predictor", "adapt", "--model", nb201_model,
                           "--samples", path, "--out", tmp_path / "a")  # fmt: skip
    assert code == 2 and fragment in err, err
    assert "Traceback" not in err


def test_predict_errors(capsys, nb201_model, tmp_path):
    (tmp_path / "archs.txt").write_text(load_latency_table("nb201").archs[0] + "\n|bad|\n")
    code, _, err = run_cli(capsys, "predictor", "predict", "--model", nb201_model,
                           "--archs", tmp_path / "archs.txt", "--device", "gold_6240")  # fmt: skip
    assert code == 2 and "archs.txt, line 2" in err
    (tmp_path / "archs.txt").write_text(load_latency_table("nb201").archs[0] + "\n")
    code, _, err = run_cli(capsys, "predictor", "predict", "--model", nb201_model,
                           "--archs", tmp_path / "archs.txt")  # fmt: skip
    assert code == 2 and "not adapted to a device" in err
    code, _, err = run_cli(capsys, "predictor", "predict", "--model", tmp_path / "nothing",
                           "--archs", tmp_path / "archs.txt")  # fmt: skip
    assert code == 2 and "model.json is missing" in err


def test_a_model_of_another_space_refuses_its_architectures(capsys, tmp_path):
    out = tmp_path / "fbnet"
    assert main(["predictor", "fit", "--space", "fbnet", "--devices", "pixel3", "gold_6240",
                 "--out", str(out), *TINY]) == 0  # fmt: skip
    assert json.loads((out / "model.json").read_text())["space"] == "fbnet"
    (tmp_path / "archs.txt").write_text(load_latency_table("nb201").archs[0] + "\n")
    code, _, err = run_cli(capsys, "predictor", "predict", "--model", out, "--device", "pixel3",
                           "--archs", tmp_path / "archs.txt")  # fmt: skip
    assert code == 2 and "line 1" in err and "Traceback" not in err
    fbnet_arch = load_latency_table("fbnet").archs[7]
    (tmp_path / "archs.txt").write_text(fbnet_arch + "\n")
    code, out_text, _ = run_cli(capsys, "predictor", "predict", "--model", out,
                                "--device", "pixel3", "--archs", tmp_path / "archs.txt")  # fmt: skip
    assert code == 0 and out_text.splitlines()[1].startswith(fbnet_arch + ",")


def test_a_damaged_model_directory(capsys, nb201_model, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(nb201_model, broken)
    meta = json.loads((broken / "model.json").read_text())
    meta["params"]["hidden"] = 32
    (broken / "model.json").write_text(json.dumps(meta))
    (tmp_path / "archs.txt").write_text(load_latency_table("nb201").archs[0] + "\n")
    code, _, err = run_cli(capsys, "predictor", "predict", "--model", broken, "--device",
                           "gold_6240", "--archs", tmp_path / "archs.txt")  # fmt: skip
    assert code == 2 and "damaged model files" in err


def test_evaluate_prints_each_device_and_the_mean(capsys):
    code, out, _ = run_cli(capsys, "predictor", "evaluate", "--space", "nb201", "--devices",
                           "1080ti_1", "gold_6240", "--ks", "10", "--methods", "meta", "ridge",
                           "macs", *TINY)  # fmt: skip
    assert code == 0
    assert "mean over 2 held-out devices" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("1080ti_1", "gold_6240"))]
    assert {(r[0], r[2]) for r in rows} == {
        (d, m) for d in ("1080ti_1", "gold_6240") for m in ("meta", "ridge", "macs")
    }
    assert all(-1 <= float(r[3]) <= 1 for r in rows)


def test_samples_of_an_energy_model_are_read_from_their_own_column(tmp_path):
    from hwnas.methods.predictor import SamplesFileError, read_samples_csv

    arch = load_latency_table("nb201").archs[0]
    path = tmp_path / "energy.csv"
    path.write_text(f"arch,energy_mj,latency_ms\n{arch},12.5,3.0\n")
    assert read_samples_csv(path, "nb201", target="energy_mj") == {arch: 12.5}
    with pytest.raises(SamplesFileError, match="'arch' and 'energy_mj'"):
        path.write_text(f"arch,latency_ms\n{arch},3.0\n")
        read_samples_csv(path, "nb201", target="energy_mj")

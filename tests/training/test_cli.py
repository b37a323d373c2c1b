"""`hwnas train` on the command line: a DARTS genotype file, the printed summary, one-line errors."""

import numpy as np

from hwnas.cli.main import main
from hwnas.core.deployable import load_trained_model
from hwnas.core.spaces.darts_genotype import Genotype

GENOTYPE = (
    "darts:normal=sep_conv_3x3~0,skip_connect~1,sep_conv_3x3~0,skip_connect~1,"
    "skip_connect~0,sep_conv_3x3~1,skip_connect~0,avg_pool_3x3~2;reduce=max_pool_3x3~0,"
    "max_pool_3x3~1,skip_connect~2,max_pool_3x3~1,max_pool_3x3~0,skip_connect~2,"
    "skip_connect~2,max_pool_3x3~1"
)


def test_train_a_darts_genotype_on_npz_data(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    x = (rng.random((120, 1, 8, 8)) * 0.2 + y[:, None, None, None] * 0.3).astype(np.float32)
    np.savez(tmp_path / "train.npz", x=x, y=y, class_names=np.array(["lo", "mid", "hi"]))
    Genotype.from_string(GENOTYPE).save(tmp_path / "genotype.json")
    code = main([
        "train", "--genotype", str(tmp_path / "genotype.json"), "--data",
        f"npz:{tmp_path / 'train.npz'}", "--channels", "4", "--cells", "2", "--epochs", "2",
        "--batch-size", "24", "--out", str(tmp_path / "m"),
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert f"model: {tmp_path / 'm'}" in out
    assert "validation" in out and "test n/a (no test split)" in out and "training time:" in out
    model, spec = load_trained_model(tmp_path / "m")
    assert spec.space == "darts" and spec.arch == GENOTYPE
    assert spec.network == {"channels": 4, "layers": 2}
    assert spec.class_names == ("lo", "mid", "hi")


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "x.npz").write_bytes(b"junk")
    arch = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    code = main(
        [
            "train",
            "--arch",
            arch,
            "--data",
            f"npz:{tmp_path / 'x.npz'}",
            "--out",
            str(tmp_path / "m"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "x.npz: not a readable .npz file" in err
    code = main(["train", "--arch", "|bad|", "--out", str(tmp_path / "m")])
    assert code == 2 and "--arch" in capsys.readouterr().err
    from hwnas.core.spaces import create_space

    fbnet = str(create_space("fbnet").reference_archs()[0])
    code = main(
        ["train", "--arch", fbnet, "--space", "fbnet", "--cells", "2", "--out", str(tmp_path / "m")]
    )
    assert code == 2 and "--cells do not apply to fbnet" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()

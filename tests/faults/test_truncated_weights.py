"""Truncated weights files of an LRNN folder end in one line, not a SafetensorError traceback."""

from __future__ import annotations

from hwnas.cli import main


def test_truncated_lrnn_weights_are_one_line(tmp_path, capsys):
    out = tmp_path / "lrnn"
    code = main(["lrnn", "train", "--task", "parity", "--layers", "1", "--width", "16",
                 "--state", "8", "--steps", "2", "--batch-size", "4", "--test-lengths", "4",
                 "--test-samples", "8", "--threads", "1", "--out", str(out)])  # fmt: skip
    assert code == 0
    weights = next(out.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:40])
    capsys.readouterr()
    for command in (["export", "--lrnn"], ["lrnn", "export", "--model"]):
        code = main([*command, str(out), "--out", str(tmp_path / "x")])
        err = capsys.readouterr().err
        assert code == 2 and weights.name in err and "Traceback" not in err, err
        assert err.count("\n") == 1

"""`hwnas export --device`: the exported file is timed on a board over SSH (an sshd on
127.0.0.1 started by the profilers' fixture, the worker run with this interpreter)."""

import importlib.util
import json
from pathlib import Path

from hwnas.cli import main


def _ssh_fixtures():
    """The profilers' SSH test module, loaded by path (not through sys.path, where another
    folder's conftest.py would shadow the TensorRT tests' one)."""
    path = Path(__file__).resolve().parents[1] / "profilers" / "test_ssh_remote.py"
    spec = importlib.util.spec_from_file_location("_export_ssh_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ssh = _ssh_fixtures()
sshd, board = _ssh.sshd, _ssh.board  # sshd: an sshd on 127.0.0.1 for this module
pytestmark = _ssh.pytestmark  # skipped, with its reason, where OpenSSH is missing
NB201 = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
FAST = ["--exporter", "legacy", "--max-time-s", "0.05", "--threads", "1"]


def test_onnx_is_timed_on_the_ssh_board(sshd, tmp_path, capsys):
    device_file = tmp_path / "board.toml"
    device_file.write_text(board(sshd).to_toml())
    out = tmp_path / "export"
    code = main(["export", "--arch", NB201, "--device-file", str(device_file), "--out", str(out),
                 *FAST])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0, text
    report = json.loads((out / "report.json").read_text())
    assert report["device"] == "board" and report["device_reach"].startswith("ssh://root@127.0.0.1")
    measurement = report["measurement"]
    assert measurement["device"] == "board"
    assert measurement["model_path"] == report["onnx_path"]
    on_board = measurement["model_path_on_device"]
    assert on_board.endswith(".onnx") and on_board != report["onnx_path"]  # copied to the board
    assert measurement["runtime"]["intra_op_threads"] == 1 and measurement["host"]["python"]
    assert report["measured_latency"]["median_ms"] > 0 and report["passed"]
    assert "measured latency (onnxruntime, board)" in text
    assert "- Device: board (reach ssh://root@127.0.0.1" in (out / "report.md").read_text()


def test_lrnn_graphs_are_timed_where_hwnas_runs(sshd, tmp_path, capsys):
    from hwnas.core.spaces.lrnn_layers import LRNNConfig, LRNNModel
    from hwnas.methods.lrnn.train import save_model

    save_model(LRNNModel(LRNNConfig("lrnn:diag-01-L1-W16-S4", 2, 2)), tmp_path / "lrnn")
    device_file = tmp_path / "board.toml"
    device_file.write_text(board(sshd).to_toml())
    code = main(["export", "--lrnn", str(tmp_path / "lrnn"), "--device-file", str(device_file),
                 "--out", str(tmp_path / "never")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "token ids within the vocabulary" in err and "on board itself" in err
    assert not (tmp_path / "never").exists()

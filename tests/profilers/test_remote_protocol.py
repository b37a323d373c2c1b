"""The board's worker and the ssh command line, without a network: the worker is served
in-process from byte streams."""

import io
import json

import pytest

from devices import Device
from profilers import TimingConfig
from profilers.remote import PROTOCOL_VERSION, RemoteJob
from profilers.remote.protocol import encode, model_message
from profilers.remote.ssh import remote_shell_command, ssh_command
from profilers.remote.worker import serve

TIMING = TimingConfig(
    warmup_runs=1, warmup_s=0.0, min_runs=4, max_runs=10, max_time_s=0.1, target_rel_ci=0.5
)
JOB = RemoteJob(runtime_options={"intra_op_threads": 1}, timing=TIMING, batch_size=2)


def run_worker(*messages: bytes) -> tuple[int, list[dict]]:
    out = io.BytesIO()
    status = serve(io.BytesIO(b"".join(messages)), out)
    return status, [json.loads(line) for line in out.getvalue().splitlines()]


def start(job=JOB, protocol=PROTOCOL_VERSION) -> bytes:
    return encode({"type": "start", "protocol": protocol, "job": job.to_dict()})


def test_worker_times_each_model_and_reports_damage(tiny_onnx):
    data = tiny_onnx.read_bytes()
    header = model_message("a", tiny_onnx, data)
    damaged = {**model_message("b", tiny_onnx, data), "sha256": "0" * 64}
    status, replies = run_worker(
        start(), encode(header), data, encode(damaged), data, encode({"type": "end"})
    )
    assert status == 0
    hello, result, failed = replies
    assert hello["type"] == "hello" and hello["runtime_info"]["intra_op_threads"] == 1
    assert hello["host"]["python"]
    assert result["type"] == "result" and result["key"] == "a"
    assert result["latency"]["n"] >= 4 and result["info"]["batch_size"] == 2
    assert failed["type"] == "failed" and "damaged" in failed["error"]


def test_worker_refuses_another_protocol_and_unknown_runtimes():
    status, [reply] = run_worker(start(protocol=PROTOCOL_VERSION + 1))
    assert status == 2 and reply["type"] == "fatal" and "same hwnas version" in reply["error"]
    status, [reply] = run_worker(start(RemoteJob(runtime="nope")))
    assert status == 1 and reply["type"] == "fatal" and "unknown runtime 'nope'" in reply["error"]


def test_worker_stops_when_the_model_bytes_are_cut_short(tiny_onnx):
    data = tiny_onnx.read_bytes()
    status, replies = run_worker(start(), encode(model_message("a", tiny_onnx, data)), data[:10])
    assert status == 1 and [r["type"] for r in replies] == ["hello"]


def test_job_round_trips_through_json():
    job = RemoteJob(runtime_options={"intra_op_threads": 3}, timing=TIMING, energy_meter="rapl")
    assert RemoteJob.from_dict(json.loads(json.dumps(job.to_dict()))) == job


def test_ssh_command_never_prompts_and_passes_options():
    device = Device(
        name="rpi5",
        kind="sbc",
        reach="ssh://pi@rpi5.lan:2222",
        python="~/venv/bin/python",
        ssh_options=("IdentityFile=/keys/rpi",),
    )
    command = ssh_command(device, [device.python, "-m", "profilers.remote.worker"])
    assert command[0] == "ssh" and "BatchMode=yes" in command and "ConnectTimeout=10" in command
    assert "IdentityFile=/keys/rpi" in command
    assert command[command.index("-p") + 1] == "2222"
    assert command[-3:-1] == ["pi@rpi5.lan", "--"]
    assert command[-1] == '"$HOME"/venv/bin/python -m profilers.remote.worker'
    assert remote_shell_command(["/opt/my env/python"]) == "'/opt/my env/python'"


def test_worker_times_rounds_beside_its_probe_and_refuses_too_many_threads(tiny_onnx):
    from profilers.probe import ProbeConfig

    probed = RemoteJob(
        runtime_options={"intra_op_threads": 1},
        timing=TIMING,
        probe=ProbeConfig(runs=5, calibration_windows=2, max_wait_s=0.0),
    )
    assert RemoteJob.from_dict(probed.to_dict()) == probed
    data = tiny_onnx.read_bytes()
    header = model_message("a#round0", tiny_onnx, data)
    status, (hello, first, second) = run_worker(
        start(probed), encode(header), data, encode(header), data, encode({"type": "end"})
    )
    assert status == 0 and hello["placement"]["threads"] == 1
    for result in (first, second):  # one probe for the connection, two windows per round
        windows = result["info"]["round"]["probe_ms"]
        info = result["info"]["round"]
        assert len(windows) == 2 and info["probe_baseline_ms"] > 0
        assert info["probe_ratio"] == pytest.approx(max(windows) / info["probe_baseline_ms"])
        assert result["info"]["round"]["host_state"]["usable_cores"] >= 1
    greedy = RemoteJob(runtime_options={"intra_op_threads": 100000}, timing=TIMING)
    status, [reply] = run_worker(start(greedy))
    assert status == 1 and reply["type"] == "fatal" and "--oversubscribe" in reply["error"]


def test_ssh_target_pipes_several_measure_calls_to_one_worker(tiny_onnx, tmp_path):
    """The ssh client replaced by a local worker process: the same pipe, no network."""
    import sys

    from devices import Device as _Device
    from profilers.remote.ssh import SshTarget
    from profilers.targets import Measured

    board = _Device(name="board", kind="sbc", runtimes=("onnxruntime",), reach="ssh://pi@board")
    target = SshTarget(board, JOB)
    target.command = [sys.executable, "-m", "profilers.remote.worker"]
    with target:
        info = target.open()
        assert info.runtime_info["intra_op_threads"] == 1
        first = list(target.measure([("a#round0", tiny_onnx), ("a#round1", tiny_onnx)]))
        again = list(target.measure([("a#round2", tiny_onnx)]))  # the worker is still there
    assert all(isinstance(o, Measured) for o in first + again)
    assert [o.key for o in first + again] == ["a#round0", "a#round1", "a#round2"]
    assert target._proc is None  # closed: 'end' sent, the worker exited

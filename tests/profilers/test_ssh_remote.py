"""Remote boards over SSH, for real: an sshd on 127.0.0.1 started by the fixture, the system's
OpenSSH client, and the worker run with this interpreter on the "board"."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devices import Device
from profilers import MeasurementStore, TimingConfig, create_runtime, run_campaign
from profilers.remote import (
    RemoteConnectionLostError,
    RemoteJob,
    RemoteSetupError,
    RemoteUnreachableError,
    target_for,
)

SSHD = Path("/usr/sbin/sshd")
TIMING = TimingConfig(
    warmup_runs=2, warmup_s=0.0, min_runs=6, max_runs=30, max_time_s=0.2, target_rel_ci=0.5
)
JOB = RemoteJob(runtime="onnxruntime", runtime_options={"intra_op_threads": 1}, timing=TIMING)

pytestmark = pytest.mark.skipif(
    not SSHD.exists() or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None,
    reason="needs OpenSSH (/usr/sbin/sshd, ssh, ssh-keygen): apt-get install openssh-server",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (read from /proc), children first."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """An sshd on 127.0.0.1 with a host key and a user key made for this test module."""
    folder = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "user_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / key)], check=True
        )
    (folder / "authorized_keys").write_text((folder / "user_key.pub").read_text())
    port = free_port()
    host_pub = (folder / "host_key.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPermitRootLogin yes\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        f"StrictModes no\nPidFile {folder / 'sshd.pid'}\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege separation folder
    log = (folder / "sshd.log").open("w")
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stderr=log)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"sshd did not start: {(folder / 'sshd.log').read_text()}")
            time.sleep(0.05)
    yield {"port": port, "folder": folder, "pid": proc.pid}
    for pid in descendants(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def board(sshd, *, python=sys.executable, port=None, name="board") -> Device:
    folder = sshd["folder"]
    return Device(
        name=name,
        kind="cpu",
        runtimes=("onnxruntime",),
        reach=f"ssh://root@127.0.0.1:{port or sshd['port']}",
        python=python,
        ssh_options=(
            f"IdentityFile={folder / 'user_key'}",
            f"UserKnownHostsFile={folder / 'known_hosts'}",
            "StrictHostKeyChecking=yes",
            "IdentitiesOnly=yes",
            "LogLevel=ERROR",
        ),
    )


def campaign(device, store, items, **kwargs):
    runtime = create_runtime("onnxruntime", intra_op_threads=1)
    return run_campaign(
        items,
        store,
        runtime,
        device,
        timing=TIMING,
        target=target_for(device, JOB),
        **kwargs,
    )


def test_models_are_timed_on_the_board_and_stored_here(sshd, tiny_onnx_factory, tmp_path):
    device = board(sshd)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    items = [("a", tiny_onnx_factory("a.onnx")), ("bad", bad), ("b", tiny_onnx_factory("b.onnx"))]
    with MeasurementStore(tmp_path / "store.sqlite") as store:
        result = campaign(device, store, items)
        assert (result.measured, result.failed) == (("a", "b"), ("bad",))
        a = store.get("a", "board", "onnxruntime")
        assert a.latency.n >= 6 and a.runtime_info["intra_op_threads"] == 1
        assert a.fingerprint["model_path"] == str(items[0][1])
        assert a.fingerprint["model_path_on_device"].endswith("a.onnx")
        assert a.fingerprint["model_path_on_device"] != str(items[0][1])  # a copy on the board
        assert a.fingerprint["host"]["python"]  # the board's fingerprint came back
        failure = store.get_failure("bad", "board", "onnxruntime")
        assert failure.stage == "load" and "bad.onnx" in failure.error
        again = campaign(device, store, items)
        assert again.skipped == ("a", "b") and again.skipped_failed == ("bad",)


def test_unreachable_host_is_a_clear_error(sshd, tiny_onnx, tmp_path):
    device = board(sshd, port=free_port())  # nothing listens there
    with (
        MeasurementStore(tmp_path / "s.sqlite") as store,
        pytest.raises(RemoteUnreachableError) as info,
    ):
        campaign(device, store, [("a", tiny_onnx)])
    assert "cannot reach board" in str(info.value) and "refused" in str(info.value)


@pytest.mark.parametrize(
    ("python", "expected"),
    [("/usr/bin/python3", "hwnas is not installed"), ("/nonexistent/python", "was not found")],
)
def test_missing_hwnas_or_python_on_the_board(sshd, tiny_onnx, tmp_path, python, expected):
    if python == "/usr/bin/python3" and not Path(python).exists():
        pytest.skip("no system python3 to stand for a board without hwnas")
    with MeasurementStore(tmp_path / "s.sqlite") as store, pytest.raises(RemoteSetupError) as info:
        campaign(board(sshd, python=python), store, [("a", tiny_onnx)])
    assert expected in str(info.value) and "device description" in str(info.value)
    with MeasurementStore(tmp_path / "s.sqlite") as store:
        assert len(store) == 0


def test_dropped_connection_keeps_finished_measurements_and_resumes(
    sshd, tiny_onnx_factory, tmp_path
):
    device = board(sshd)
    items = [(key, tiny_onnx_factory(f"{key}.onnx")) for key in "abcde"]

    def drop_after_two(done, total, key, outcome):
        if done == 2:  # kill the board's side of the connection
            for pid in descendants(sshd["pid"]):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    path = tmp_path / "store.sqlite"
    with MeasurementStore(path) as store, pytest.raises(RemoteConnectionLostError) as info:
        campaign(device, store, items, progress=drop_after_two)
    # Rounds of all cells are interleaved: the drop lands in the middle of the rounds, and the
    # error names the round that was being measured.
    assert "#round" in str(info.value) and "resume" in str(info.value)
    with MeasurementStore(path) as store:
        kept = {(r.key, r.round, r.latency.median_ms) for r in store.rounds()}
        assert len(kept) >= 2  # every round finished before the drop is in the store
        campaign(device, store, items)
        after = [(r.key, r.round, r.latency.median_ms) for r in store.rounds()]
        assert kept <= set(after)  # finished rounds kept as they were, not timed again
        assert len({(k, i) for k, i, _ in after}) == len(after)
        assert sorted(m.key for m in store.measurements()) == list("abcde")

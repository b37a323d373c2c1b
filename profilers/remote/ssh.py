"""A board reached with the system's OpenSSH client.

One ``ssh`` process per campaign runs ``python -m profilers.remote.worker`` on the board;
models are streamed to it over standard input, one at a time, and each timing comes back as
a JSON line, so every result can be stored before the next model is sent. ``BatchMode=yes``
means no prompt ever waits for a password: keys (or an agent) must let ssh log in.
"""

from __future__ import annotations

import collections
import json
import shlex
import subprocess
import threading
from collections.abc import Iterable, Iterator
from typing import IO, Any

from devices.description import Device
from profilers.remote.errors import (
    RemoteConnectionLostError,
    RemoteSetupError,
    RemoteUnreachableError,
)
from profilers.remote.protocol import (
    PROTOCOL_VERSION,
    WORKER_MODULE,
    RemoteJob,
    encode,
    model_message,
    outcome_from_message,
)
from profilers.targets import Failed, Job, Outcome, Target, TargetInfo, materialize

DEFAULT_PYTHON = "python3"
SSH_EXIT_ERROR = 255  # ssh's own failures (connection, authentication) exit with 255
_STDERR_LINES = 40


def remote_shell_command(argv: list[str]) -> str:
    """Quote ``argv`` for the board's shell, keeping a leading ``~/`` as the home folder."""
    words = []
    for word in argv:
        if word.startswith("~/"):
            words.append('"$HOME"/' + shlex.quote(word[2:]))
        else:
            words.append(shlex.quote(word))
    return " ".join(words)


def ssh_command(device: Device, remote: list[str], *, connect_timeout_s: int = 10) -> list[str]:
    """Return the ``ssh`` argument list running ``remote`` (argv) on ``device``."""
    destination, port = device.ssh_destination()
    options = [
        "BatchMode=yes",
        f"ConnectTimeout={connect_timeout_s}",
        "ServerAliveInterval=5",
        "ServerAliveCountMax=3",
        *device.ssh_options,
    ]
    command = ["ssh", "-T"]
    for option in options:
        command += ["-o", option]
    if port is not None:
        command += ["-p", str(port)]
    return [*command, destination, "--", remote_shell_command(remote)]


class SshTarget(Target):
    """Times models on an ssh device (``reach = "ssh://[user@]host[:port]"``).

    Args:
        device: The board; ``device.python`` is the interpreter with hwnas installed there
            (default ``python3``), ``device.ssh_options`` extra OpenSSH options.
        job: Runtime, timing and batch size of the measurements.
        connect_timeout_s: ssh's ``ConnectTimeout``.
    """

    def __init__(self, device: Device, job: RemoteJob, *, connect_timeout_s: int = 10) -> None:
        self.device = device
        self.job = job
        self.python = device.python or DEFAULT_PYTHON
        self.command = ssh_command(
            device, [self.python, "-m", WORKER_MODULE], connect_timeout_s=connect_timeout_s
        )
        self.where = device.ssh_destination()[0]
        self._proc: subprocess.Popen | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._reader: threading.Thread | None = None
        self._host: dict[str, Any] = {}

    def open(self) -> TargetInfo:
        try:
            self._proc = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except FileNotFoundError as exc:
            raise RemoteSetupError(
                "the OpenSSH client `ssh` is not installed here; install it (e.g. "
                "`apt-get install openssh-client`) to profile ssh devices"
            ) from exc
        self._reader = threading.Thread(target=self._drain_stderr, daemon=True)
        self._reader.start()
        start = {"type": "start", "protocol": PROTOCOL_VERSION, "job": self.job.to_dict()}
        hello = self._exchange(encode(start), None)
        if hello is None:
            raise self._setup_failure()
        if hello.get("type") != "hello":
            raise RemoteSetupError(
                f"{self.device.name} ({self.where}) cannot measure: {hello.get('error_type')}: "
                f"{hello.get('error')}"
            )
        self._host = hello["host"]
        return TargetInfo(host=hello["host"], runtime_info=hello["runtime_info"])

    def measure(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        for key, source in jobs:
            path = materialize(key, source)
            if isinstance(path, Failed):
                yield path
                continue
            data = path.read_bytes()
            reply = self._exchange(encode(model_message(key, path, data)) + data, key)
            if reply is None:
                raise self._lost(key)
            if reply.get("type") == "fatal":
                raise RemoteSetupError(
                    f"{self.device.name} ({self.where}) stopped measuring at {key!r}: "
                    f"{reply.get('error_type')}: {reply.get('error')}"
                )
            yield outcome_from_message(reply, path, self._host)

    def close(self) -> None:
        """Say ``end`` to the worker (several ``measure`` calls may share one connection)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None and proc.poll() is None:
                proc.stdin.write(encode({"type": "end"}))
                proc.stdin.flush()
        except (OSError, ValueError):
            pass
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if self._reader is not None:
            self._reader.join(timeout=5)

    # -- the pipe ------------------------------------------------------------------------

    def _exchange(
        self, payload: bytes, key: str | None, *, expect_reply: bool = True
    ) -> dict[str, Any] | None:
        """Send ``payload`` and return the next message, or None if the stream ended."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(payload)
            proc.stdin.flush()
        except (BrokenPipeError, ConnectionResetError, ValueError):
            return None
        if not expect_reply:
            return None
        line = proc.stdout.readline()
        if not line:
            return None
        try:
            return json.loads(line)
        except json.JSONDecodeError as exc:
            what = "its hello" if key is None else f"the result of {key!r}"
            raise RemoteSetupError(
                f"{self.device.name} ({self.where}) answered {what} with something that is not "
                f"hwnas protocol ({line[:200]!r}): a login script may print to standard output"
            ) from exc

    def _drain_stderr(self) -> None:
        stream: IO[bytes] | None = self._proc.stderr if self._proc else None
        if stream is None:
            return
        for raw in stream:
            self._stderr.append(raw.decode("utf-8", "replace").rstrip())
        stream.close()

    def _stderr_text(self) -> str:
        if self._reader is not None:
            self._reader.join(timeout=5)
        lines = [line for line in self._stderr if line.strip()]
        return " | ".join(lines[-5:]) or "no message"

    def _exit_status(self) -> int | None:
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return None

    def _setup_failure(self) -> Exception:
        """The error of a worker that never said hello, from ssh's status and messages."""
        status = self._exit_status()
        stderr = self._stderr_text()
        name = f"{self.device.name} ({self.where})"
        if status == SSH_EXIT_ERROR:
            return RemoteUnreachableError(
                f"cannot reach {name} over ssh: {stderr}. Check the host and port, that sshd "
                "runs there, and that key-based login works without a prompt "
                f"(try: {shlex.join(self.command[:-3])} {self.where} true)"
            )
        if status == 127 or "command not found" in stderr or "No such file" in stderr:
            return RemoteSetupError(
                f"{name}: Python {self.python!r} was not found ({stderr}); set python = "
                "'/path/to/venv/bin/python' in the device description"
            )
        if "No module named" in stderr:
            return RemoteSetupError(
                f"{name}: hwnas is not installed for {self.python} there ({stderr}); install the "
                "same hwnas version on the board (pip install hwnas), or set python in the "
                "device description to the interpreter of the environment that has it"
            )
        return RemoteSetupError(
            f"{name}: the hwnas worker did not start (exit status {status}): {stderr}"
        )

    def _lost(self, key: str) -> Exception:
        status = self._exit_status()
        return RemoteConnectionLostError(
            f"the connection to {self.device.name} ({self.where}) dropped while {key!r} was "
            f"being measured (ssh exit status {status}: {self._stderr_text()}); every measurement "
            "finished before it is in the store: run the same command again to resume"
        )

"""The board's side of a remote campaign: ``python -m profilers.remote.worker``.

Reads a ``start`` line from standard input, answers ``hello`` (or ``fatal``), then times each
model sent to it (a ``model`` line followed by the file's bytes) and answers one JSON line per
model, flushed at once, until ``end`` or the end of input. See ``profilers.remote.protocol``.

Standard output carries only protocol lines: anything a library prints goes to standard error.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO

from profilers.errors import RuntimeUnavailableError
from profilers.remote.protocol import (
    PROTOCOL_VERSION,
    RemoteJob,
    encode,
    failed_message,
    measure_file,
    open_job_probe,
    start_runtime,
)


def serve(inp: BinaryIO, out: BinaryIO) -> int:
    """Answer the controller on ``inp``/``out`` until ``end``; return the exit status."""

    def send(message: dict) -> None:
        out.write(encode(message))
        out.flush()

    line = inp.readline()
    if not line:
        return 0
    start = json.loads(line)
    if start.get("type") != "start" or start.get("protocol") != PROTOCOL_VERSION:
        send({
            "type": "fatal",
            "error_type": "ProtocolError",
            "error": f"this worker speaks protocol {PROTOCOL_VERSION}, the controller sent "
            f"{start.get('protocol')!r}: install the same hwnas version on both sides",
        })  # fmt: skip
        return 2
    job = RemoteJob.from_dict(start["job"])
    runtime, meter, hello = start_runtime(job)
    probe = None
    if runtime is not None:
        try:
            probe = open_job_probe(runtime, job)
        except Exception as exc:  # the probe is our own fixed model: not running it is fatal
            hello = {"type": "fatal", "error_type": type(exc).__name__, "error": f"probe: {exc}"}
            runtime = None
    send(hello)
    if runtime is None:
        return 1
    try:
        return _serve_models(inp, send, runtime, meter, job, probe, hello["placement"])
    finally:
        if probe is not None:
            probe.close()


def _serve_models(inp, send, runtime, meter, job, probe, placement) -> int:
    """Time each model the controller sends, one round each, until ``end``."""
    with tempfile.TemporaryDirectory(prefix="hwnas-worker-") as folder:
        while True:
            line = inp.readline()
            if not line:  # the controller went away: nothing more to do
                return 0
            message = json.loads(line)
            if message.get("type") == "end":
                return 0
            key, size = message["key"], int(message["size"])
            data = inp.read(size)
            if len(data) != size:
                return 1  # input cut short: the connection dropped
            path = Path(folder) / Path(message["name"]).name
            if hashlib.sha256(data).hexdigest() != message["sha256"]:
                error = ValueError(f"{path.name} arrived damaged (SHA-256 differs)")
                send(failed_message(key, "load", error))
                continue
            path.write_bytes(data)
            try:
                send(measure_file(runtime, meter, job, key, path, probe=probe, placement=placement))
            except RuntimeUnavailableError as exc:  # e.g. a provider missing on this board
                send({"type": "fatal", "error_type": type(exc).__name__, "error": str(exc)})
                return 1
            finally:
                path.unlink(missing_ok=True)


def main() -> int:
    """Serve on the process's standard input and output."""
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the stream
    try:
        return serve(sys.stdin.buffer, protocol_out)
    finally:
        protocol_out.close()


if __name__ == "__main__":
    sys.exit(main())

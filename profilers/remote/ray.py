"""A farm of boards on Ray: each model is a task needing the device's custom resource.

Each board joins the cluster as a Ray node carrying a resource such as
``{"device:jetson-orin": 1}``
(``ray start --address=HEAD --resources='{"device:jetson-orin": 1}'``).
A task asks for one unit of it, so a board runs one measurement at a time and a farm of N
identical boards runs N at once; results stream back as each task finishes and land in the
one store of the controller. Needs the ``ray`` extra (``pip install 'hwnas[ray]'``), and hwnas
installed on every node.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from devices.description import Device
from profilers.errors import RuntimeUnavailableError
from profilers.remote.errors import (
    RemoteConnectionLostError,
    RemoteSetupError,
    RemoteUnreachableError,
)
from profilers.remote.protocol import (
    RemoteJob,
    failed_message,
    measure_file,
    open_job_probe,
    outcome_from_message,
    start_runtime,
)
from profilers.targets import Failed, Job, Outcome, Target, TargetInfo, materialize


def import_ray() -> ModuleType:
    """Return the ``ray`` module, or fail saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise RuntimeUnavailableError(
            f"Ray farms need the ray package ({exc}); install it with `pip install 'hwnas[ray]'`"
        ) from exc
    return ray


def hello_task(job: dict[str, Any]) -> dict[str, Any]:
    """On a node: the ``hello`` (host and runtime description) or ``fatal`` of the job."""
    return start_runtime(RemoteJob.from_dict(job))[2]


def measure_task(job: dict[str, Any], key: str, name: str, data: bytes) -> dict[str, Any]:
    """On a node: time one round of a model given as bytes; ``result`` or ``failed``.

    The probe starts from the job's ``probe_baseline_ms`` (the quiet time the controller has
    seen on earlier tasks) where given, so a task timed in a slow spell is still marked.
    """
    from devices import host_fingerprint

    remote_job = RemoteJob.from_dict(job)
    runtime, meter, hello = start_runtime(remote_job)
    if runtime is None:
        return hello
    probe = open_job_probe(runtime, remote_job)
    with tempfile.TemporaryDirectory(prefix="hwnas-ray-") as folder:
        path = Path(folder) / Path(name).name
        path.write_bytes(data)
        try:
            reply = measure_file(
                runtime, meter, remote_job, key, path, probe=probe, placement=hello["placement"]
            )
        except RuntimeUnavailableError as exc:
            reply = failed_message(key, "load", exc)
        finally:
            if probe is not None:
                probe.close()
    reply["host"] = host_fingerprint()
    return reply


class RayTarget(Target):
    """Times models on the Ray nodes that carry the device's resource (``device.ray_resource``).

    Connects to the running Ray instance (``ray.init`` already called, or ``RAY_ADDRESS``).

    Args:
        device: A device with ``reach = "ray"`` or ``"ray:<resource>"``.
        job: Runtime, timing and batch size of the measurements.
        max_in_flight: Tasks submitted at once; default the units of the resource in the
            cluster (one per board).
    """

    def __init__(self, device: Device, job: RemoteJob, *, max_in_flight: int | None = None):
        self.device = device
        self.job = job
        self.resource = device.ray_resource
        self.max_in_flight = max_in_flight
        self._ray: ModuleType | None = None
        self._baseline_ms: float | None = None  # fastest probe window seen on the farm

    def _options(self) -> dict[str, Any]:
        # num_cpus=0: the device resource alone decides where and how many run at once.
        return {"resources": {self.resource: 1}, "num_cpus": 0, "max_retries": 0}

    def open(self) -> TargetInfo:
        ray = self._ray = import_ray()
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS") or "auto"
            try:
                ray.init(address=address, log_to_driver=False)
            except ConnectionError as exc:
                raise RemoteUnreachableError(
                    f"no Ray cluster at {address!r} for {self.device.name} ({exc}); start one "
                    "(`ray start --head`) and set RAY_ADDRESS, or call ray.init() first"
                ) from exc
        units = ray.cluster_resources().get(self.resource, 0)
        if units < 1:
            raise RemoteSetupError(
                f"no Ray node carries the resource {self.resource!r} of {self.device.name}; "
                f"start the board's node with `ray start --address=HEAD "
                f"--resources='{{\"{self.resource}\": 1}}'`"
            )
        if self.max_in_flight is None:
            self.max_in_flight = int(units)
        task = ray.remote(hello_task).options(**self._options())
        hello = self._get(task.remote(self.job.to_dict()), "hello")
        if hello.get("type") != "hello":
            raise RemoteSetupError(
                f"{self.device.name} (Ray resource {self.resource!r}) cannot measure: "
                f"{hello.get('error_type')}: {hello.get('error')}"
            )
        return TargetInfo(host=hello["host"], runtime_info=hello["runtime_info"])

    def _get(self, ref: Any, what: str) -> dict[str, Any]:
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            raise RemoteSetupError(
                f"{self.device.name}: the {what} task failed on its node ({exc}); check that "
                "the same hwnas is installed on every node"
            ) from exc
        except ray.exceptions.RayError as exc:
            raise RemoteConnectionLostError(
                f"{self.device.name}: a Ray node was lost during the {what} task ({exc}); every "
                "measurement finished before it is in the store: run again to resume"
            ) from exc

    def measure(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        ray = self._ray
        task = ray.remote(measure_task).options(**self._options())
        pending: dict[Any, tuple[str, Path]] = {}
        jobs = iter(jobs)
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < self.max_in_flight:
                item = next(jobs, None)
                if item is None:
                    exhausted = True
                    break
                key, source = item
                path = materialize(key, source)
                if isinstance(path, Failed):
                    yield path
                    continue
                job = self.job.to_dict() | {"probe_baseline_ms": self._baseline_ms}
                ref = task.remote(job, key, path.name, path.read_bytes())
                pending[ref] = (key, path)
            if not pending:
                continue
            (ready, *_), _ = ray.wait(list(pending), num_returns=1)
            key, path = pending.pop(ready)
            try:
                reply = ray.get(ready)
            except ray.exceptions.RayTaskError as exc:  # the measuring code raised: this model
                yield Failed.from_exception(key, "run", exc)
                continue
            except ray.exceptions.RayError as exc:  # node or worker died
                raise RemoteConnectionLostError(
                    f"{self.device.name}: Ray lost the task measuring {key!r} ({exc}); every "
                    "measurement finished before it is in the store: run again to resume"
                ) from exc
            if reply.get("type") == "fatal":
                raise RemoteSetupError(
                    f"{self.device.name} stopped measuring at {key!r}: "
                    f"{reply.get('error_type')}: {reply.get('error')}"
                )
            windows = ((reply.get("info") or {}).get("round") or {}).get("probe_ms") or []
            if windows:
                self._baseline_ms = min([*windows, self._baseline_ms or min(windows)])
            yield outcome_from_message(reply, path, reply.get("host", {}))

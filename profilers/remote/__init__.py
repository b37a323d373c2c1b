"""Remote targets: boards over SSH and farms on Ray, behind the campaign's ``Target``.

``target_for(device, job)`` picks where a device's models are timed from its ``reach``:
this process (``local``), a board over SSH (``ssh://``) or Ray nodes (``ray``). Nothing here
imports ray until a Ray target opens.
"""

from __future__ import annotations

import dataclasses

from devices.description import Device, DeviceError
from profilers.remote.errors import (
    RemoteConnectionLostError,
    RemoteError,
    RemoteSetupError,
    RemoteUnreachableError,
)
from profilers.remote.protocol import PROTOCOL_VERSION, RemoteJob
from profilers.targets import LocalTarget, Target


def target_for(device: Device, job: RemoteJob) -> Target:
    """Return the target timing ``device``'s models as ``job`` says.

    The device's energy meter is read unless ``job`` names another.

    Raises:
        DeviceError: If the device is known only from published tables (``reach = "table"``).
    """
    kind = device.reach_kind
    if job.energy_meter is None and device.energy_meter is not None:
        job = dataclasses.replace(job, energy_meter=device.energy_meter)
    if kind == "local":
        from profilers.runtimes import create_runtime

        runtime = create_runtime(job.runtime, **job.runtime_options)
        return LocalTarget(
            runtime,
            job.timing,
            job.batch_size,
            seed=job.seed,
            energy_meter=job.energy_meter,
            probe=job.probe,
            cpus=job.cpus,
            oversubscribe=job.oversubscribe,
        )
    if kind == "ssh":
        from profilers.remote.ssh import SshTarget

        return SshTarget(device, job)
    if kind == "ray":
        from profilers.remote.ray import RayTarget

        return RayTarget(device, job)
    raise DeviceError(
        f"device {device.name!r} is known only from published measurement tables "
        f"(reach = {device.reach!r}); nothing can be run on it. Profile 'local', or describe "
        "a board you can reach (ssh://user@host or ray) in a device file"
    )


__all__ = [
    "PROTOCOL_VERSION",
    "RemoteConnectionLostError",
    "RemoteError",
    "RemoteJob",
    "RemoteSetupError",
    "RemoteUnreachableError",
    "target_for",
]

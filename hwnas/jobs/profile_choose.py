"""Chosen samples for a profile: kernel profiles of a candidate pool, then the most telling.

`hwnas profile --samples N --choose` times the space's 10 references and N networks chosen
from a seeded pool of candidates, not N drawn at random. Every candidate's kernels are found
and timed in place with ONNX Runtime's profiler (`hwnas.methods.runtime_predictor`, a few
seconds per network), which gives the device setting's kernel table; the N picked are those
farthest, in kernel sum, costs and kernel count, from everything chosen so far
(`choose_samples`), so the 10 + N networks span what the runtime predictor will be asked
about. The kernel profiles land in the measurement store beside the latencies, so
`hwnas generate --store` can fit the runtime predictor on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwnas.errors import InputError

POOL_FACTOR = 4
MIN_POOL = 40
KERNEL_RUNS = 20


def pool_size(samples: int, pool: int | None) -> int:
    """Candidates to choose ``samples`` from: ``pool``, or 4x the samples (at least 40)."""
    size = pool if pool is not None else max(MIN_POOL, POOL_FACTOR * samples)
    if size < samples:
        raise InputError(f"--pool {size} is smaller than --samples {samples}: nothing to choose")
    return size


def kernel_folder(store_path: str | Path) -> Path:
    """Where a store's kernel files go (ONNX files and kernel profiles by setting)."""
    return Path(store_path).parent / "kernels"


def choose_archs(
    config: Any,
    candidates: list,
    threads: int,
    store: Any,
    device: Any,
    folder: str | Path,
    build=None,
    key_of=str,
) -> list:
    """The 10 references and ``config.samples`` networks chosen from a pool of candidates.

    Args:
        config: A `hwnas.jobs.profile.ProfileConfig` with ``choose`` set.
        candidates: The references first, then the pool (`hwnas.jobs.profile.profile_archs`
            with ``pool_size`` samples).
        threads: The intra-op threads the kernels are profiled with (the profile's).
        store: The open `profilers.MeasurementStore` the kernel profiles are written to.
        device: The device (must be this machine: kernels are profiled here).
        folder: Where the files and kernel profiles go (`kernel_folder`).
        build: ``build(arch) -> (module, input_shape)`` of the timed network (a
            `NetworkSetting`'s); None: the space's bare network.
        key_of: The store key of an architecture (default ``str``).

    Raises:
        InputError: If the device is not this machine.
    """
    from hwnas.methods.runtime_predictor import KernelProfiler, RuntimePredictor, choose_samples
    from profilers import OnnxRuntime

    if device.reach != "local":
        raise InputError(
            f"--choose profiles kernels on this machine; {device.name!r} is reached over "
            f"{device.reach}: run hwnas profile --choose on that device itself"
        )
    runtime = OnnxRuntime(intra_op_threads=threads)
    profiler = KernelProfiler(
        config.space, folder, runtime, config.precision, build=build, key_of=key_of
    )
    table = profiler.table(candidates, KERNEL_RUNS, store=store, device=device)
    features = RuntimePredictor(profiler, table).features(candidates)
    refs = len(create_refs(config.space))
    picks = choose_samples(features, list(range(refs)), config.samples, config.seed)
    return candidates[:refs] + [candidates[i] for i in picks]


def create_refs(space_name: str) -> tuple:
    """The space's reference architectures."""
    from hwnas.core.spaces import create_space

    return create_space(space_name).reference_archs()

"""Job 1: profile a device: time the reference cells and sampled cells, store every result.

Either space of the shipped latency tables can be profiled: NAS-Bench-201 cells (samples
drawn from all 15,625) or FBNet networks (samples drawn from the 5,000 of the FBNet table,
so that the new device's column lines up with the 13 published ones). Each space's 10
reference architectures come first: they are what a MetaPredictor adapts from.

The device may be this machine, a board over SSH or nodes of a Ray farm (``devices.Device``
``reach``); the measurements land in the local store as each one finishes either way.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from hwnas.core.export.onnx import EXPORTERS
from hwnas.core.export.precision import PRECISIONS
from hwnas.core.spaces import create_space, table_spaces
from hwnas.core.spaces.nb201 import NUM_ARCHS
from hwnas.errors import InputError
from hwnas.jobs.profile_setting import NetworkSetting, split_key
from profilers.rounds import RoundsConfig
from profilers.timing import TimingConfig, default_timing

RUNTIME = "onnxruntime"
PROFILE_THREADS = 1
"""Default intra-op threads of a profile: on a shared machine one thread gives the same answer
twice (benchmarks/timing_stability.py, benchmarks/noisy_neighbour.py); pass --threads N to time
as a deployment with N threads runs."""


@dataclass(frozen=True)
class ProfileConfig:
    """What to measure: how many cells beyond the 10 references, at which batch, threads and
    precision.

    Attributes:
        samples: Cells drawn at random (seeded, distinct from the references) beyond the 10.
        seed: Seed of the draw; the same seed draws the same cells, so a rerun resumes.
        batch_size: Inference batch size.
        intra_op_threads: ONNX Runtime intra-op threads; None uses ``PROFILE_THREADS`` (1).
        exporter: ONNX exporter used for the timed files ("auto", "dynamo" or "legacy").
        timing: The timing method (warm-up, repeated runs, stopping rule).
        space: The search space whose cells are timed: one with a shipped table
            (`hwnas.core.spaces.table_spaces`).
        runtime: The runtime timing the ONNX files (a registered runtime that loads ONNX).
        retry_failed: Time again the cells whose failure is stored (default: skip them).
        network: The network timed, where it is not the space's table setting (its bare
            network at `input_shape`): a `NetworkSetting` (the data's image shape, classes and
            network size, preprocessing in the graph), stored under its own keys.
        rounds: Rounds per cell, the disturbance probe and the unstable flag.
        cpus: CPUs the timing process is pinned to (``os.sched_setaffinity``); None: all.
        oversubscribe: Allow more threads than usable cores.
        choose: Time ``samples`` networks chosen from a pool of candidates by their kernels
            (`hwnas.jobs.profile_choose`; the kernel profiles go into the store), not drawn
            at random.
        pool: Candidates to choose from (default 4x the samples, at least 40).
        precision: The precision of the timed files, part of the device setting the rows are
            stored under: "fp32" (the export), "fp16" or "int8" (a copy made from it,
            `hwnas.core.export.precision.timing_copy`).
    """

    samples: int = 30
    seed: int = 0
    batch_size: int = 1
    intra_op_threads: int | None = None
    exporter: str = "auto"
    timing: TimingConfig = field(default_factory=default_timing)
    space: str = "nb201"
    runtime: str = RUNTIME
    retry_failed: bool = False
    network: NetworkSetting | None = None
    rounds: RoundsConfig = field(default_factory=RoundsConfig)
    cpus: tuple[int, ...] | None = None
    oversubscribe: bool = False
    precision: str = "fp32"
    choose: bool = False
    pool: int | None = None

    def __post_init__(self) -> None:
        if self.samples < 0:
            raise InputError(f"samples must be >= 0, got {self.samples}")
        if self.batch_size < 1:
            raise InputError(f"batch size must be >= 1, got {self.batch_size}")
        if self.intra_op_threads is not None and self.intra_op_threads < 1:
            raise InputError(f"threads must be >= 1, got {self.intra_op_threads}")
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.exporter not in EXPORTERS:
            raise InputError(f"exporter must be one of {EXPORTERS}, got {self.exporter!r}")
        if self.space not in table_spaces():
            raise InputError(
                f"profiling times networks of {table_spaces()}, not {self.space!r}; other spaces "
                "can be timed with profilers.run_campaign on their exported ONNX files"
            )
        if self.runtime != RUNTIME:
            raise InputError(
                f"hwnas profile times ONNX files with {RUNTIME!r}; runtime {self.runtime!r} is "
                "not supported by this command yet"
            )

    def to_dict(self) -> dict:
        data = asdict(self)
        data["timing"] = self.timing.to_dict()
        data["network"] = None if self.network is None else self.network.to_dict()
        data["rounds"] = self.rounds.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ProfileConfig:
        data = dict(data)
        if "timing" in data:
            data["timing"] = TimingConfig.from_dict(data["timing"])
        if data.get("network") is not None:
            data["network"] = NetworkSetting.from_dict(data["network"])
        if "rounds" in data:
            data["rounds"] = RoundsConfig.from_dict(data["rounds"])
        if data.get("cpus") is not None:
            data["cpus"] = tuple(data["cpus"])
        return cls(**data)


@dataclass(frozen=True)
class ProfileResult:
    """The outcome of `profile_device`.

    Attributes:
        device: The device name the measurements are stored under.
        store_path: The measurement store.
        csv_path: The CSV export of this device's measurements, where one was asked for.
        latency_ms: Median latency of every profiled cell, keyed by architecture string.
        measured: Cells timed in this run.
        resumed: Cells found in the store from an earlier run and not timed again.
        failed: Cells that could not be measured (this run or stored before, not retried),
            with their error.
        wide_csv_path: The export in the layout of the literature tables
            (``nb201_index,arch,<device>``), where one was asked for.
        setting: The `NetworkSetting` label of the timed network; None for the table setting.
        workdir: Where the timed ONNX files are (`timed_onnx_path`).
        rounds: What the campaign's rounds came to (`profilers.CampaignSummary`: disturbed
            and re-timed rounds, unstable cells); None when nothing was timed.
        precision: The precision of the timed files and stored rows.
    """

    device: str
    store_path: Path
    csv_path: Path | None
    latency_ms: dict[str, float]
    measured: tuple[str, ...] = field(default_factory=tuple)
    resumed: tuple[str, ...] = field(default_factory=tuple)
    failed: dict[str, str] = field(default_factory=dict)
    wide_csv_path: Path | None = None
    setting: str | None = None
    workdir: Path | None = None
    rounds: object | None = None
    precision: str = "fp32"


def profile_archs(config: ProfileConfig) -> list:
    """What a profile times: the space's 10 references first, then `samples` distinct others.

    NB201 samples are drawn from the whole space; FBNet samples from the shipped table's 5,000
    networks (the space holds 9**22; `SearchSpace.samples_from_table`).

    Raises:
        InputError: If `samples` is more than the space (or its table) holds beyond the
            references, naming the largest value allowed.
    """
    space = create_space(config.space)
    archs = list(space.reference_archs())
    seen = set(archs)
    rng = np.random.default_rng(config.seed)
    others = [a for a in space.table_archs() if a not in seen] if space.samples_from_table else []
    largest = len(others) if space.samples_from_table else NUM_ARCHS - len(seen)
    if config.samples > largest:
        pool = "its shipped table" if space.samples_from_table else "the space"
        raise InputError(
            f"--samples {config.samples} is more than {pool} holds beyond the {len(seen)} "
            f"reference {space.arch_noun} of {config.space}: at most {largest}"
        )
    if space.samples_from_table:
        picks = rng.permutation(len(others))[: config.samples]
        return archs + [others[i] for i in picks]
    target = len(archs) + config.samples
    while len(archs) < target:
        arch = space.sample(rng)
        if arch not in seen:
            seen.add(arch)
            archs.append(arch)
    return archs


def table_index(space_name: str, arch) -> int:
    """The architecture's row index in the space's shipped table (``nb201_index`` /
    ``fbnet_index``)."""
    index = create_space(space_name).table_index(arch)
    if index is None:
        raise InputError(f"{arch} is not one of the {space_name} table's networks")
    return index


def in_space(space_name: str, key: str) -> bool:
    """Whether a store key is an architecture string of `space_name` (a store may hold
    measurements of both spaces)."""
    try:
        create_space(space_name).parse(key)
    except (ValueError, KeyError):
        return False
    return True


def check_runnable(device, runtime: str = RUNTIME) -> None:
    """Refuses a device nothing can be run on, or that lacks the runtime.

    Raises:
        DeviceError: naming the device and what to do instead.
    """
    device.require_runnable(
        f"it cannot be profiled. Use its latencies with `hwnas generate --table-device "
        f"{device.name}`, or profile 'local' or a board you can reach (a device file with "
        "reach = 'ssh://user@host' or 'ray')"
    )
    device.require_runtime(
        runtime, f"which profiling uses here: add {runtime!r} to its runtimes if it is installed"
    )


def check_local(device) -> None:
    """Refuses a device this process cannot time: remote, or without ONNX Runtime.

    Raises:
        DeviceError: naming the device and what to do instead.
    """
    device.require_local(
        "this command times the local machine only: run hwnas on that device itself, or drop "
        "'reach' from its description"
    )
    device.require_runtime(
        RUNTIME, f"which profiling uses here: add {RUNTIME!r} to its runtimes if it is installed"
    )


def profile_device(
    store_path: str | Path,
    config: ProfileConfig | None = None,
    *,
    device=None,
    workdir: str | Path | None = None,
    csv_path: str | Path | None = None,
    progress: Callable | None = None,
    wide_csv_path: str | Path | None = None,
) -> ProfileResult:
    """Times the space's networks with ONNX Runtime on a device and stores each result at once.

    The networks are exported here (fp32, then converted to ``config.precision``); the device
    times them where its ``reach`` says (this machine, a board over SSH, a Ray farm). Cells
    already in the store for this device, runtime, batch size and precision are not timed
    again, so a killed run resumes where it stopped; a cell that fails (export, load or run)
    is stored as failed and the campaign goes on.

    Args:
        store_path: The SQLite measurement store (created if missing).
        config: What to measure.
        device: A `devices.Device`; the local CPU by default.
        workdir: Where the timed ONNX files are written; next to the store by default.
        csv_path: Where to write this device's measurements as CSV (`arch,latency_ms,...`),
            if anywhere.
        progress: Called as `progress(done, total, key, row)`, row a `Measurement`, a
            `MeasurementFailure`, or None for a cell already stored.
        wide_csv_path: Where to write this device's latencies in the layout of the shipped
            tables (`nb201_index,arch,<device>` or `fbnet_index,...`), if anywhere.

    The CSV files hold this device's measurements of this space at this precision only.
    """
    from devices import local_device
    from hwnas.core.export import OnnxExport, export_onnx
    from hwnas.core.export.precision import timing_copy
    from profilers import MeasurementStore, create_runtime, run_campaign
    from profilers.remote import RemoteJob, target_for
    from profilers.store_csv import write_long_csv, write_wide_csv

    config = config or ProfileConfig()
    device = device or local_device()
    check_runnable(device, config.runtime)
    store_path = Path(store_path)
    workdir = Path(workdir) if workdir else store_path.parent / "onnx"
    options = {"intra_op_threads": config.intra_op_threads or PROFILE_THREADS}
    job = RemoteJob(
        runtime=config.runtime,
        runtime_options=options,
        timing=config.rounds.round_timing(config.timing),
        batch_size=config.batch_size,
        probe=config.rounds.probe,
        cpus=config.cpus,
        oversubscribe=config.oversubscribe,
    )
    runtime = create_runtime(config.runtime, **options)
    space = create_space(config.space)
    export_config = OnnxExport(exporter=config.exporter)
    setting = config.network

    def exporter_for(arch) -> Callable[[], Path]:
        def export() -> Path:
            path = timed_onnx_path(workdir, config, arch)
            if setting is None:
                network, input_shape = space.build(arch), space.input_shape
            else:
                network, input_shape = setting.build(config.space, arch)
            if config.precision == "fp32":
                export_onnx(network, input_shape, path, export_config)
                return path
            path.parent.mkdir(parents=True, exist_ok=True)
            # the fp32 export it is made from stays apart from an fp32 profile's file
            with tempfile.TemporaryDirectory(dir=path.parent) as folder:
                fp32 = Path(folder) / f"{path.stem}.fp32.onnx"
                export_onnx(network, input_shape, fp32, export_config)
                return timing_copy(fp32, path, config.precision, input_shape)

        return export

    def key_of(arch) -> str:
        return str(arch) if setting is None else setting.store_key(arch)

    archs = None if config.choose else profile_archs(config)
    with MeasurementStore(store_path) as store:
        if archs is None:
            from hwnas.jobs.profile_choose import choose_archs, kernel_folder, pool_size

            folder = kernel_folder(store_path)
            build = None
            if setting is not None:
                folder = folder / setting.label
                build = lambda arch: setting.build(config.space, arch)  # noqa: E731
            size = pool_size(config.samples, config.pool)
            candidates = profile_archs(replace(config, samples=size, choose=False))
            threads = options["intra_op_threads"]
            archs = choose_archs(
                config, candidates, threads, store, device, folder, build=build, key_of=key_of
            )
        items = [(key_of(arch), exporter_for(arch)) for arch in archs]
        outcome = run_campaign(
            items,
            store,
            runtime,
            device,
            timing=config.timing,
            batch_size=config.batch_size,
            precision=config.precision,
            progress=progress,
            retry_failed=config.retry_failed,
            target=target_for(device, job),
            rounds=config.rounds,
        )
        latency, failed = {}, {}
        device_setting = (device.name, runtime.name, config.precision, config.batch_size)
        for arch in archs:
            key = key_of(arch)
            row = store.get(key, *device_setting)
            if row is not None:
                latency[str(arch)] = row.latency.median_ms
                continue
            failure = store.get_failure(key, *device_setting)
            failed[str(arch)] = f"{failure.stage}: {failure.error_type}: {failure.error}"
        rows = _setting_rows(
            store.measurements(*device_setting),
            config.space,
            None if setting is None else setting.label,
        )
        if wide_csv_path is not None:
            write_wide_csv(
                wide_csv_path,
                rows,
                devices=[device.name],
                index=lambda key: table_index(config.space, space.parse(key)),
                index_column=f"{config.space}_index",
            )
        if csv_path is not None:
            write_long_csv(csv_path, rows)
    return ProfileResult(
        device=device.name,
        store_path=store_path,
        csv_path=None if csv_path is None else Path(csv_path),
        latency_ms=latency,
        measured=tuple(outcome.measured),
        resumed=tuple(outcome.skipped),
        failed=failed,
        wide_csv_path=None if wide_csv_path is None else Path(wide_csv_path),
        setting=None if setting is None else setting.label,
        workdir=workdir,
        rounds=outcome.summary,
        precision=config.precision,
    )


def timed_onnx_path(workdir: str | Path, config: ProfileConfig, arch) -> Path:
    """Where `profile_device` writes the timed ONNX file of `arch` (a folder per network
    setting, the precision in the name: ``nb201_00012.int8.onnx``)."""
    folder = Path(workdir) if config.network is None else Path(workdir) / config.network.label
    index = table_index(config.space, arch)
    return folder / f"{config.space}_{index:05d}.{config.precision}.onnx"


def _setting_rows(rows, space_name: str, label: str | None) -> list:
    """The stored rows of one space and network setting, keyed by bare architecture string."""
    import dataclasses

    kept = []
    for row in rows:
        arch, row_label = split_key(row.key)
        if row_label == label and in_space(space_name, arch):
            kept.append(row if arch == row.key else dataclasses.replace(row, key=arch))
    return kept

"""Profiling campaigns: time many ONNX models on one device, writing each result at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from os import PathLike
from typing import Any

from devices import Device
from profilers.campaign_rounds import RoundsRun
from profilers.campaign_summary import CampaignSummary
from profilers.errors import StoreError
from profilers.failures import MeasurementFailure
from profilers.measurement import Measurement
from profilers.probe import probe_identity
from profilers.profile import file_sha256, profile_onnx  # noqa: F401 - public here too
from profilers.rounds import RoundsConfig
from profilers.runtimes.base import Runtime
from profilers.speed import SpeedAnchors
from profilers.store import MeasurementStore
from profilers.store_writers import registered_writer
from profilers.targets import LocalTarget, Target
from profilers.timing import TimingConfig

ModelSource = str | PathLike | Callable[[], "str | PathLike"]
Progress = Callable[[int, int, str, "Measurement | MeasurementFailure | None"], None]


@dataclass(frozen=True)
class CampaignResult:
    """Which keys a campaign measured, which failed, and which it skipped as already stored.

    Attributes:
        measured: Keys timed in this run.
        skipped: Keys whose measurement was already stored.
        failed: Keys that failed in this run (recorded in the store's failures).
        skipped_failed: Keys whose failure was already stored and not retried.
        summary: What the rounds came to (disturbed, re-timed, unstable cells).
    """

    measured: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: tuple[str, ...] = ()
    skipped_failed: tuple[str, ...] = ()
    summary: CampaignSummary | None = None

    @property
    def total(self) -> int:
        """Return the number of items the campaign went through."""
        return len(self.measured) + len(self.skipped) + len(self.failed) + len(self.skipped_failed)


def run_campaign(
    items: Iterable[tuple[str, ModelSource]],
    store: MeasurementStore,
    runtime: Runtime,
    device: Device,
    *,
    timing: TimingConfig | None = None,
    batch_size: int = 1,
    precision: str = "fp32",
    progress: Progress | None = None,
    retry_failed: bool = False,
    target: Target | None = None,
    rounds: RoundsConfig | None = None,
    notice: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    anchors: SpeedAnchors | None = None,
) -> CampaignResult:
    """Time every item not yet in ``store`` in rounds, writing each round as it finishes.

    Each item is timed in ``rounds.rounds`` short rounds, spread over the campaign in a seeded
    shuffled order (``profilers.rounds``); each round lands in the store's ``rounds`` table
    at once, with its disturbance probe and host state, so a killed campaign resumes in the
    middle of its rounds. Disturbed rounds are timed again later, cells whose rounds disagree
    get more rounds (within ``rounds.extra_time_fraction`` of the base rounds' time), and at
    the end each cell's row holds the median over its rounds, the interval of that median and
    the campaign's "unstable" flag. Before timing, the target opens (a missing runtime or an
    unreachable board is reported first), every stored row and round of this (device,
    runtime, precision, batch size) is checked to have been timed with the same runtime
    settings, and the campaign registers as the setting's writer in the same transaction, so
    that a concurrent campaign with other settings is refused (``profilers.store_writers``).
    A model that fails (export, load or run) is stored as a failure and the campaign goes on.

    Args:
        items: ``(key, source)`` pairs; ``source`` is an ONNX path or a zero-argument
            callable returning one, called once, when the key is first timed (lazy export).
        store: Where rounds and measurements go; keys with a measurement for (device,
            runtime, precision, batch_size) are skipped.
        runtime: The runtime: its name keys the rows, and its ``comparable_settings`` decide
            which stored rows may be resumed onto.
        device: The device the measurements belong to.
        timing: Timing budget of one cell, shared among its base rounds
            (``RoundsConfig.round_timing``) when the campaign makes its own target; default
            ``TimingConfig()``.
        batch_size: Batch size of the random inputs.
        precision: Precision label recorded with each row (the ONNX files' precision).
        progress: Called as ``progress(done, total, key, outcome)`` after each round, with
            the ``RoundRecord``, the ``MeasurementFailure``, or None for an item already
            stored (reported first); ``total`` grows when rounds are added.
        retry_failed: Measure again the keys whose failure is stored (default: skip them).
        target: Where the models are timed, one round per job; default a ``LocalTarget``
            with the round timing and the probe of ``rounds``. Remote targets:
            ``profilers.remote`` (give their job the round timing and probe).
        rounds: Rounds, probe and flags; default ``RoundsConfig()``.
        notice: Receives the one line said when the machine is busy and rounds wait for
            quiet; default a logging warning.
        clock: Monotonic seconds for the time cap of extra rounds (tests pass a fake one).
        anchors: The speed anchors file (`profilers.speed`); default
            `SpeedAnchors.default()` where ``rounds.speed_anchor`` is on.

    Raises:
        StoreError: If a stored row or round of this setting was timed with other runtime
            settings (``Runtime.comparable_settings``), e.g. other threads or library
            version, or another campaign is writing it with other settings.
        RuntimeUnavailableError: If the runtime cannot run where the target times.
        RemoteError: If a remote target is unreachable or its connection drops.
    """
    timing = timing or TimingConfig()
    rounds = rounds or RoundsConfig()
    items = list(dict((key, source) for key, source in items).items())
    setting = (device.name, runtime.name, precision, batch_size)
    skipped = [key for key, _ in items if store.has(key, *setting)]
    skipped_failed = (
        [] if retry_failed else [key for key, _ in items if store.has_failure(key, *setting)]
    )
    done_keys = set(skipped) | set(skipped_failed)
    todo = [(key, source) for key, source in items if key not in done_keys]
    todo_keys = {key for key, _ in todo}
    stored_rounds = [r for r in store.rounds(None, *setting) if r.key in todo_keys]
    target = target or LocalTarget(
        runtime,
        rounds.round_timing(timing),
        batch_size,
        energy_meter=device.energy_meter,
        probe=rounds.probe,
    )
    if anchors is None and rounds.speed_anchor and rounds.probe is not None:
        anchors = SpeedAnchors.default()
    if anchors is not None:
        anchors.check()  # an unreadable file is said before any round, not after them all
    run = RoundsRun(
        store, device, runtime.name, precision, batch_size, rounds, progress, notice, clock
    )
    run.anchors = anchors
    with target:
        opened = target.open()  # fails early where the runtime or the board is missing
        settings = runtime.comparable_settings(opened.runtime_info)
        if rounds.probe is not None:
            run.speed_setting = {
                "device": device.name,
                "runtime": runtime.name,
                "settings": settings,
                "cpu_model": opened.host.get("cpu_model"),
                "probe": probe_identity(rounds.probe),
            }

        def check() -> None:  # inside the store's write lock: no other writer slips in
            stored_rows = [(m.key, m.runtime_info) for m in store.measurements(*setting)]
            stored_rows += [(r.key, r.runtime_info) for r in store.rounds(None, *setting)]
            _check_stored_settings(
                store, stored_rows, runtime, settings, device.name, precision, batch_size
            )

        with registered_writer(store, setting, settings, check):
            summary = run.time(target, todo, stored_rounds, skipped + skipped_failed)
    return CampaignResult(
        measured=run.finalized,
        skipped=tuple(skipped),
        failed=run.failed,
        skipped_failed=tuple(skipped_failed),
        summary=summary,
    )


_ABSENT = "<absent>"
_SHOWN_KEYS = 3


def _settings_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Return ``{field: (old, new)}`` for every field whose value differs, absent ones included."""
    return {
        name: (old.get(name, _ABSENT), new.get(name, _ABSENT))
        for name in sorted(old.keys() | new.keys())
        if old.get(name, _ABSENT) != new.get(name, _ABSENT)
    }


def _check_stored_settings(
    store: MeasurementStore,
    rows: Iterable[tuple[str, dict[str, Any]]],
    runtime: Runtime,
    settings: dict[str, Any],
    device: str,
    precision: str,
    batch_size: int,
) -> None:
    """Refuse to resume onto stored rows (cells or rounds) timed with other runtime settings.

    Args:
        rows: ``(key, runtime_info)`` of every stored row and round of the setting.

    Raises:
        StoreError: Naming the store, the first keys that differ and each differing field's
            stored and current value.
    """
    differing: dict[str, dict[str, tuple[Any, Any]]] = {}
    for key, runtime_info in rows:
        if key in differing:
            continue
        diff = _settings_diff(runtime.comparable_settings(runtime_info), settings)
        if diff:
            differing[key] = diff
    if not differing:
        return
    shown = [
        f"{key!r} ("
        + ", ".join(f"{name}: {old!r} stored, {new!r} now" for name, (old, new) in diff.items())
        + ")"
        for key, diff in list(differing.items())[:_SHOWN_KEYS]
    ]
    more = len(differing) - len(shown)
    raise StoreError(
        f"{store.path}: {len(differing)} keys are already stored for device "
        f"{device!r}, runtime {runtime.name!r}, precision {precision!r}, batch size "
        f"{batch_size} (as cells or rounds) but were measured with other runtime settings: "
        + "; ".join(shown)
        + (f"; and {more} more" if more else "")
        + ". Nothing was measured. Use another store, or the same settings as the stored rows"
    )

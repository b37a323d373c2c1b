"""A budget verdict measured as a profile measures a cell: one campaign, same rounds, same anchor.

A file's verdict against its latency budget is only worth what the latencies it is compared
with are worth: the predictor that chose the file learned from a profile, whose cells were
timed in rounds of fresh sessions beside the disturbance probe and scaled to the machine
setting's speed anchor (`profilers.speed`). So the shipped file is timed by the very same
campaign (`run_campaign`: the same target, round timing, probe, re-timing of disturbed rounds,
extra rounds where they disagree, and anchor), into the same store, under a key of its own
(``shipped:<name>:<sha256 prefix>``, so that the same bytes are not timed twice and a rerun
resumes). The verdict is decided on the anchored round medians, in the profile's units; the
raw ones are decided too and reported beside them.

A shared machine also changes speed in phases of seconds, and the probe feels those phases
less than small cells do (on the 2-core VM a phase slowed the probe 1.2x and 8x8 NB201 cells
1.5-1.7x). So the file is not timed alone, in five rounds back to back that one phase can
cover: it is timed among *companions*, cells of the profile timed again in the same campaign,
its rounds shuffled among theirs as a profile's are. The companions' stored latencies over
their latencies now say how this campaign's speed compares with the profile's
(``profile_factor``, their median); the verdict is decided on the file's anchored rounds times
that factor, and both factors are reported.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profilers.errors import ProfilerError
from profilers.stats import LatencyStats
from profilers.verdict import BudgetVerdict, verdict_of_rounds

ANCHORED, RAW = "anchored", "raw"
KEY_PREFIX = "shipped"
COMPANION_PREFIX = "companion"


def shipped_key(name: str, sha256: str) -> str:
    """The store key of a shipped file: its model's name and the first 16 hex of its sha256."""
    return f"{KEY_PREFIX}:{name}:{sha256[:16]}"


@dataclass(frozen=True)
class ShippedTiming:
    """A shipped file timed as the profile times a cell, and its budget verdict.

    Attributes:
        key: Its store key (`shipped_key`).
        store_path: The store its rounds and measurement are in.
        verdict: The verdict the report uses (``judged_by``'s figures).
        raw_verdict: The same rounds decided unscaled.
        judged_by: ``"anchored"`` (the rounds scaled to the speed anchor, the profile's units)
            or ``"raw"`` (no anchor: the anchor is off, or no probe ran).
        speed_factor: The factor the rounds were scaled by (1.0 when raw).
        profile_factor: The companions' median stored / now latency, by which the verdict's
            rounds are scaled too (1.0 without companions).
        companions: Companions timed beside the file (and the ratio of each, stored / now).
        unstable: Whether the campaign's unstable flag fell on the file's rounds.
        measured_now: False when the store already held the file's measurement.
        latency: The file's latency statistics in the verdict's units (the stored
            measurement, anchored, times ``profile_factor``).
        fingerprint: How it was timed: the stored measurement's fingerprint (host, runtime,
            model path and sha256, inputs, the round timing, the rounds, the speed anchor).
    """

    key: str
    store_path: Path
    verdict: BudgetVerdict
    raw_verdict: BudgetVerdict
    judged_by: str
    speed_factor: float
    profile_factor: float
    companions: dict[str, float]
    unstable: bool
    measured_now: bool
    latency: LatencyStats
    fingerprint: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def latency_ms(self) -> float:
        """The median the verdict rests on."""
        return self.verdict.median_ms

    def to_dict(self) -> dict[str, Any]:
        """Return the timing as JSON data."""
        data = dataclasses.asdict(self)
        data["store_path"] = str(self.store_path)
        data["latency"] = self.latency.to_dict()
        return data


def _verdict(medians: list[float], budget_ms: float, confidence: float, base: int) -> BudgetVerdict:
    """The verdict of a campaign's rounds: extra ones came where the rounds disagreed."""
    return verdict_of_rounds(medians, budget_ms, confidence, base, more_tried=len(medians) > base)


def time_shipped(path: str | Path, name: str, budget_ms: float, **options: Any) -> ShippedTiming:
    """Time one file as a profile times a cell and decide the budget (`time_like_profile`)."""
    return time_like_profile([(name, path)], budget_ms, **options)[name]


def time_like_profile(
    files: Sequence[tuple[str, str | Path]],
    budget_ms: float,
    *,
    store_path: str | Path,
    runtime: Any,
    device: Any,
    timing: Any,
    rounds: Any,
    batch_size: int = 1,
    precision: str = "fp32",
    target: Any = None,
    anchors: Any = None,
    notice: Callable[[str], None] | None = None,
    companions: Sequence[tuple[str, str | Path]] = (),
) -> dict[str, ShippedTiming]:
    """Time ``files`` as a profile times cells, in one campaign, and decide the budget for each.

    Args:
        files: ``(name, ONNX file)`` of the files that ship (e.g. one per precision); the
            name goes into the key (`shipped_key`) and keys the result.
        budget_ms: The latency budget.
        store_path: The store (the profile's, so that its anchor is the one used).
        runtime: The runtime (the profile's runtime and threads).
        device: The ``devices.Device``.
        timing: The per-cell timing of the profile (``ProfileConfig.timing``), shared among
            the rounds as in a profile.
        rounds: The profile's ``RoundsConfig``.
        batch_size: Batch size of the timed runs.
        precision: Precision label of the rows (the profile's: the companions' rows are
            looked up under it; the files' own precision is in their bytes and key).
        target: Where to time (default: this process, as `run_campaign` makes it).
        anchors: The speed anchors file (default: the user's, as `run_campaign`).
        notice: Receives the "machine is busy" line.
        companions: ``(stored key, ONNX file)`` of profiled cells of the same setting (in
            ``store_path``), timed again beside the files; keys without a stored
            measurement or file are left out.

    Raises:
        ProfilerError: If a file could not be timed (its stage and error).
    """
    from profilers.campaign import file_sha256, run_campaign
    from profilers.speed import scaled as scaled_stats
    from profilers.store import MeasurementStore

    keys = {name: shipped_key(name, file_sha256(Path(path))) for name, path in files}
    setting = (device.name, runtime.name, precision, batch_size)
    with MeasurementStore(store_path) as store:
        stored = {}
        first = next(iter(keys.values()))
        for stored_key, companion in companions:
            row = store.get(stored_key, *setting)
            if row is not None and Path(companion).is_file():
                timed_key = f"{COMPANION_PREFIX}:{first}:{stored_key}"
                stored[timed_key] = (stored_key, row.latency.median_ms, companion)
        items = [(keys[name], Path(path)) for name, path in files]
        outcome = run_campaign(
            [*items, *((k, p) for k, (_, _, p) in stored.items())],
            store,
            runtime,
            device,
            timing=timing,
            batch_size=batch_size,
            precision=precision,
            retry_failed=True,
            target=target,
            rounds=rounds,
            notice=notice,
            anchors=anchors,
        )
        ratios = {}
        for timed_key, (stored_key, then_ms, _) in stored.items():
            now = store.get(timed_key, *setting)
            if now is not None and now.latency.median_ms > 0:
                ratios[stored_key] = then_ms / now.latency.median_ms
        profile_factor = float(statistics.median(ratios.values())) if ratios else 1.0
        results = {}
        for name, path in files:
            key = keys[name]
            row = store.get(key, *setting)
            if row is None:
                failure = store.get_failure(key, *setting)
                why = "no measurement" if failure is None else f"{failure.stage}: {failure.error}"
                raise ProfilerError(f"{path}: could not be timed for the budget verdict ({why})")
            records = list(store.rounds(key, *setting))
            kept = [r for r in records if not r.disturbed] or records
            raw = [r.latency.median_ms for r in kept]
            speed = row.fingerprint.get("speed") or {}
            judged_by = ANCHORED if "factor" in speed else RAW
            factor = float(speed["factor"]) if judged_by == ANCHORED else 1.0
            confidence = 0.95 if rounds is None else rounds.confidence
            base = rounds.rounds if rounds is not None else len(raw)
            scaled = [m * factor * profile_factor for m in raw]
            results[name] = ShippedTiming(
                key=key,
                store_path=Path(store_path),
                verdict=_verdict(scaled, budget_ms, confidence, base),
                raw_verdict=_verdict(raw, budget_ms, confidence, base),
                judged_by=judged_by,
                speed_factor=factor,
                profile_factor=profile_factor,
                companions=ratios,
                unstable=bool(row.rounds is not None and row.rounds.unstable),
                measured_now=key in outcome.measured,
                latency=scaled_stats(row.latency, profile_factor),
                fingerprint=dict(row.fingerprint),
            )
    return results

"""The rounds of one campaign: plan, time through a target, store, re-time, summarise."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from devices import Device
from profilers.campaign_summary import DISAGREE as APART
from profilers.campaign_summary import FEW_KEPT, CampaignSummary, UnstableCell
from profilers.failures import MeasurementFailure
from profilers.measurement import Measurement, RoundRecord
from profilers.probe import quiet_baseline
from profilers.round_timing import disturbed_round
from profilers.rounds import (
    RoundsConfig,
    base_plan,
    extra_plan,
    summarize_rounds,
    unstable_threshold,
    wants_more,
)
from profilers.speed import (
    NEIGHBOURS,
    SpeedAnchor,
    SpeedAnchors,
    local_probe_ms,
    new_anchor,
    round_probe_ms,
    scaled,
    setting_digest,
)
from profilers.store import MeasurementStore
from profilers.targets import Failed, Measured, Target

log = logging.getLogger(__name__)

NO_METER = "no energy meter on this device"
RETIME, DISAGREE, BASE = "retime", "disagree", "base"


def _round_key(key: str, number: int) -> str:
    return f"{key}#round{number}"


class RoundsRun:
    """State of one campaign's rounds; ``time`` runs them and returns the summary.

    Args:
        store: Where rounds, measurements and failures go.
        device: The device of the rows.
        runtime: Runtime name of the rows.
        precision: Precision label of the rows.
        batch_size: Batch size of the rows.
        config: Rounds, probe and flags.
        progress: ``progress(done, total, key, outcome)`` after each round.
        notice: Receives the one line about waiting for quiet.
        clock: Monotonic seconds (tests pass a fake one).

    Set by `run_campaign` before ``time``: ``anchors``, where the machine settings' speed
    anchors are kept (`profilers.speed`; None scales nothing), and, once the target has
    opened, ``speed_setting``, the machine setting the anchor belongs to (the rounds'
    placement is added).
    """

    def __init__(
        self,
        store: MeasurementStore,
        device: Device,
        runtime: str,
        precision: str,
        batch_size: int,
        config: RoundsConfig,
        progress: Callable | None = None,
        notice: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.anchors: SpeedAnchors | None = None
        self.speed_setting: dict[str, Any] | None = None
        self.timeline: list[tuple[str, int]] = []
        self.device = device
        self.setting = (device.name, runtime, precision, batch_size)
        self.config = config
        self.progress = progress
        self.notice = notice or log.warning
        self.clock = clock
        self.records: dict[str, list[RoundRecord]] = {}
        self.timed_now: set[tuple[str, int]] = set()
        self.reason: dict[tuple[str, int], str] = {}
        self.sources: dict[str, Any] = {}
        self.paths: dict[str, Path] = {}
        self.dropped: set[str] = set()
        self.failed: tuple[str, ...] = ()
        self.finalized: tuple[str, ...] = ()
        self.baseline_ms: float | None = None
        self.probe_windows: list[float] = []
        self.waited_s = 0.0
        self.round_seconds: list[float] = []
        self.done = 0
        self.total = 0
        self._said_wait = False

    # -- progress -------------------------------------------------------------------------

    def _report_resumed(self, keys: list[str]) -> None:
        """Report the items already stored (measured or failed), before any round."""
        for key in keys:
            self._tick(key, None)

    def _tick(self, key: str, outcome: Any) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, key, outcome)

    # -- running --------------------------------------------------------------------------

    def time(
        self, target: Target, todo: list, stored: list[RoundRecord], resumed: list[str]
    ) -> CampaignSummary:
        """Time the base rounds, then re-timed and extra ones within the cap; summarise.

        Args:
            target: An opened target.
            todo: ``(key, source)`` of the items to time.
            stored: Their rounds already in the store (a resumed campaign).
            resumed: Keys already measured or failed, reported first as None.
        """
        keys = [key for key, _ in todo]
        self.sources = dict(todo)
        self.records = {key: [] for key in keys}
        for record in sorted(stored, key=lambda r: r.created_at):
            self.records[record.key].append(record)
            self.timeline.append((record.key, record.round))
        done = {key: {r.round for r in recs} for key, recs in self.records.items()}
        plan = base_plan(keys, self.config, done)
        self.reason |= {pair: BASE for pair in plan}
        self.total = len(resumed) + len(plan)
        self._report_resumed(resumed)
        self._run_pass(target, plan, deadline=None)
        capped = self._extra_passes(target, keys)
        return self._finalize(keys, capped)

    def _extra_passes(self, target: Target, keys: list[str]) -> bool:
        """Re-time disturbed rounds and add rounds where they disagree; True if capped."""
        per_round = statistics.median(self.round_seconds) if self.round_seconds else 0.0
        budget_s = self.config.extra_time_fraction * per_round * self.config.rounds * len(keys)
        deadline = self.clock() + budget_s
        pass_no = 1
        while True:
            self._reassess()
            reasons = {}
            for key in keys:
                if key in self.dropped:
                    continue
                recs = self.records[key]
                kept = [r.latency.median_ms for r in recs if not r.disturbed]
                reasons[key] = wants_more(kept, len(recs), self.config)
            if not any(reasons.values()):
                return False
            if self.clock() >= deadline:
                return True
            nxt = {k: 1 + max((r.round for r in self.records[k]), default=-1) for k in reasons}
            plan = extra_plan(reasons, nxt, self.config, pass_no)
            self.reason |= {(k, r): reasons[k] for k, r in plan}
            self.total += len(plan)
            if self._run_pass(target, plan, deadline):
                return True
            pass_no += 1

    def _run_pass(self, target: Target, plan: list[tuple[str, int]], deadline) -> bool:
        """Time the rounds of ``plan`` through ``target``; True if the deadline cut it short."""
        by_job: dict[str, tuple[str, int]] = {}
        cut = False

        def jobs() -> Iterator[tuple[str, Any]]:
            nonlocal cut
            for key, number in plan:
                if key in self.dropped:
                    continue
                if deadline is not None and self.clock() >= deadline:
                    cut = True
                    return
                job_key = _round_key(key, number)
                by_job[job_key] = (key, number)
                yield job_key, self._source(key)

        last = self.clock()
        for outcome in target.measure(jobs()):
            key, number = by_job[outcome.key]
            now = self.clock()
            self.round_seconds.append(now - last)
            last = now
            if isinstance(outcome, Failed):
                self._fail(key, outcome)
            else:
                self._record(key, number, outcome)
        return cut

    def _source(self, key: str) -> Callable[[], Path]:
        def get() -> Path:
            if key not in self.paths:
                source = self.sources[key]
                self.paths[key] = Path(source() if callable(source) else source)
            return self.paths[key]

        return get

    def _fail(self, key: str, outcome: Failed) -> None:
        failure = MeasurementFailure(
            key=key,
            device=self.setting[0],
            runtime=self.setting[1],
            precision=self.setting[2],
            batch_size=self.setting[3],
            stage=outcome.stage,
            error_type=outcome.error_type,
            error=outcome.error,
            fingerprint={"host": outcome.host, "device": self.device.to_dict()},
        )
        self.store.add_failure(failure)
        self.dropped.add(key)
        self.failed += (key,)
        self._tick(key, failure)

    def _record(self, key: str, number: int, outcome: Measured) -> None:
        info = dict(outcome.info)
        round_info = dict(info.pop("round", {}) or {})
        round_info["scheduled_as"] = self.reason.get((key, number), BASE)
        windows = round_info.get("probe_ms") or []
        if windows:
            self.probe_windows += [float(w) for w in windows]
            percentile = self.config.probe.baseline_percentile if self.config.probe else 0.0
            self.baseline_ms = quiet_baseline(self.probe_windows, percentile)
        waited = float(round_info.get("waited_s") or 0.0)
        self.waited_s += waited
        busy = round_info.get("busy_after_wait")
        if busy is None:  # a worker from before the flag: any wait
            busy = waited > 0
        if busy and not self._said_wait:
            self._said_wait = True
            self.notice(
                f"the machine is busy (the probe stayed over {self.config.probe.threshold:g}x "
                f"its quiet time for a whole wait of {waited:.1f} s): rounds wait up to "
                f"{self.config.probe.max_wait_s:g} s each for quiet "
                f"({self.config.probe.max_total_wait_s:g} s in all); rounds still disturbed are "
                "marked and timed again later"
            )
        fingerprint = {
            "host": outcome.host,
            "device": self.device.to_dict(),
            "precision": self.setting[2],
            **info,
        }
        record = RoundRecord(
            key=key,
            device=self.setting[0],
            runtime=self.setting[1],
            precision=self.setting[2],
            batch_size=self.setting[3],
            round=number,
            latency=outcome.latency,
            probe_ratio=round_info.get("probe_ratio"),
            disturbed=bool(round_info.get("disturbed", False)),
            info=round_info,
            fingerprint=fingerprint,
            runtime_info=info.get("runtime", {}),
        )
        self.store.add_round(record)
        self.records[key].append(record)
        self.timed_now.add((key, number))
        self.timeline.append((key, number))
        self._tick(key, record)

    def _reassess(self) -> None:
        """Judge this run's rounds against the campaign's quiet baseline (`quiet_baseline`)."""
        if self.baseline_ms is None or self.config.probe is None:
            return
        threshold = self.config.probe.threshold
        for key, recs in self.records.items():
            for i, rec in enumerate(recs):
                windows = rec.info.get("probe_ms")
                if (key, rec.round) not in self.timed_now or not windows:
                    continue
                ratio = max(windows) / self.baseline_ms
                disturbed = disturbed_round(ratio, threshold, rec.info.get("gate"))
                if disturbed != rec.disturbed:
                    info = rec.info | {"probe_ratio": ratio, "disturbed": disturbed}
                    info["probe_baseline_ms"] = self.baseline_ms
                    recs[i] = _replace(rec, probe_ratio=ratio, disturbed=disturbed, info=info)
                    self.store.add_round(recs[i])

    # -- the end --------------------------------------------------------------------------

    def _speed(self) -> tuple[dict[tuple[str, int], float], dict[str, Any]]:
        """Each round's factor to the setting's speed anchor, and what to say of it.

        A round's factor is the anchor over the probe's local time (`local_probe_ms`, over
        the rounds of this campaign in the order they were timed). The anchor is the one the
        store's measurements of the setting were scaled to, else the anchors file's, else
        one set now from this campaign's undisturbed rounds.
        """
        if not self.config.speed_anchor:
            return {}, {"note": "the speed anchor is off"}
        if self.config.probe is None:
            return {}, {"note": "no probe was timed"}
        if self.anchors is None or self.speed_setting is None:
            return {}, {"note": "no anchors file"}
        current = {(r.key, r.round): r for recs in self.records.values() for r in recs}
        order = [pair for pair in dict.fromkeys(self.timeline) if pair in current]
        times = [round_probe_ms(current[pair].info) for pair in order]
        if not any(t is not None for t in times):
            return {}, {"note": "no round has probe times"}
        disturbed = [current[pair].disturbed for pair in order]
        local = local_probe_ms(times, disturbed)
        placement = next((current[p].fingerprint.get("placement") for p in reversed(order)), None)
        setting = self.speed_setting | {"placement": placement}
        digest = setting_digest(setting)
        anchor = self._stored_anchor(digest)
        new = False
        if anchor is None:
            anchor = self.anchors.get(digest)
        else:
            self.anchors.add(anchor)  # a store's anchor is kept for its setting's other stores
        if anchor is None:
            quiet = [t for t, bad in zip(times, disturbed, strict=True) if t and not bad]
            made = new_anchor(statistics.median(quiet or [t for t in times if t]), setting)
            anchor = self.anchors.add(made)
            new = anchor is made
        factors = {pair: anchor.probe_ms / t for pair, t in zip(order, local, strict=True) if t}
        ratios = [1 / factors[p] for p in order if p in self.timed_now and p in factors]
        info = {
            "anchor": anchor.to_dict(),
            "new": new,
            "ratio": statistics.median(ratios) if ratios else None,
            "neighbours": NEIGHBOURS,
        }
        return factors, info

    def _stored_anchor(self, digest: str) -> SpeedAnchor | None:
        """The anchor the store's measurements of this machine setting were scaled to."""
        for row in self.store.measurements(device=self.setting[0], runtime=self.setting[1]):
            anchor = (row.fingerprint.get("speed") or {}).get("anchor")
            if anchor and anchor.get("digest") == digest:
                return SpeedAnchor.from_dict(anchor)
        return None

    def _finalize(self, keys: list[str], capped: bool) -> CampaignSummary:
        """Write each cell's measurement with its summary and flag; return the campaign's."""
        factors, speed = self._speed()
        summaries = {}
        for key in keys:
            recs = sorted(self.records[key], key=lambda r: r.round)
            if key in self.dropped or not recs:
                continue
            retimed = sum(self.reason.get((key, r.round)) == RETIME for r in recs)
            stats, summary = summarize_rounds(
                [scaled(r.latency, factors.get((key, r.round), 1.0)) for r in recs],
                [r.disturbed for r in recs],
                retimed=retimed,
                confidence=self.config.confidence,
            )
            summaries[key] = (recs, stats, summary)
        threshold = unstable_threshold(
            [s.round_spread for _, _, s in summaries.values()], self.config
        )
        few = max(2, self.config.rounds // 2 + 1)
        unstable = []
        for key, (recs, stats, summary) in summaries.items():
            reason = ""
            if summary.round_spread > threshold:
                reason = APART
            elif summary.rounds_kept < min(few, summary.rounds):
                reason = FEW_KEPT
            summary = _replace(summary, unstable=bool(reason))
            if reason:
                unstable.append(
                    UnstableCell(
                        key, summary.round_spread, summary.rounds, summary.disturbed_rounds, reason
                    )
                )
            cell_speed = dict(speed)
            if factors:
                kept = [r for r in recs if not r.disturbed] or recs
                cell_speed |= {
                    "factor": statistics.median(factors.get((key, r.round), 1.0) for r in kept)
                }
            self.store.add(self._measurement(key, recs, stats, summary, cell_speed))
        self.finalized = tuple(summaries)
        mine = [r for recs in self.records.values() for r in recs]
        mine = [r for r in mine if (r.key, r.round) in self.timed_now]
        probe = self.config.probe
        return CampaignSummary(
            cells=len(summaries),
            rounds_timed=len(mine),
            disturbed_rounds=sum(r.disturbed for r in mine),
            retimed_rounds=sum(self.reason.get((r.key, r.round)) == RETIME for r in mine),
            extra_rounds=sum(self.reason.get((r.key, r.round)) == DISAGREE for r in mine),
            waited_s=round(self.waited_s, 3),
            probe_baseline_ms=self.baseline_ms,
            probe_threshold=None if probe is None else probe.threshold,
            unstable_threshold=threshold,
            unstable=tuple(sorted(unstable, key=lambda c: -c.round_spread)),
            time_capped=capped,
            speed_anchor_ms=speed["anchor"]["probe_ms"] if "anchor" in speed else None,
            speed_anchor_set_at=speed["anchor"]["set_at"] if "anchor" in speed else None,
            speed_anchor_new=bool(speed.get("new")),
            speed_ratio=speed.get("ratio"),
            speed_note=speed.get("note", ""),
            gate_kept_share=_median_kept_share(mine),
        )

    def _measurement(self, key, recs, stats, summary, speed) -> Measurement:
        kept = [r for r in recs if not r.disturbed] or recs
        last = kept[-1]
        energies = [r.fingerprint.get("energy") or {} for r in kept]
        values = {
            name: [e[name] for e in energies if e.get(name) is not None]
            for name in ("energy_mj", "energy_net_mj", "power_w")
        }
        reason = NO_METER
        if self.device.energy_meter is not None:
            reason = next((e["reason"] for e in energies if e.get("reason")), reason)
        fingerprint = {k: v for k, v in last.fingerprint.items() if k != "energy"}
        fingerprint |= {"rounds": self.config.to_dict(), "energy": energies[-1] if energies else {}}
        fingerprint["speed"] = speed
        return Measurement(
            key=key,
            device=self.setting[0],
            runtime=self.setting[1],
            precision=self.setting[2],
            batch_size=self.setting[3],
            latency=stats,
            energy_mj=statistics.median(values["energy_mj"]) if values["energy_mj"] else None,
            energy_net_mj=(
                statistics.median(values["energy_net_mj"]) if values["energy_net_mj"] else None
            ),
            power_w=statistics.median(values["power_w"]) if values["power_w"] else None,
            energy_reason=reason,
            fingerprint=fingerprint,
            runtime_info=last.runtime_info,
            rounds=summary,
        )


def _median_kept_share(rounds: list[RoundRecord]) -> float | None:
    """The median share of gated rounds' runs kept between quiet looks; None ungated."""
    shares = [(r.info.get("gate") or {}).get("kept_share") for r in rounds]
    shares = [s for s in shares if s is not None]
    return statistics.median(shares) if shares else None


def _replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)

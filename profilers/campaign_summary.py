"""The one summary a campaign of rounds prints: disturbed and re-timed rounds, unstable cells."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

DISAGREE = "rounds disagree"
FEW_KEPT = "too few undisturbed rounds"
FIXES = (
    "profile them again when the machine is quieter (into a new --store), pin the timing "
    "process with --cpus, or pass more --rounds"
)


@dataclass(frozen=True)
class UnstableCell:
    """A cell the campaign flagged: its rounds disagree beyond the campaign's threshold.

    Attributes:
        key: The cell.
        round_spread: Half-width of the interval of its median over rounds, relative.
        rounds: Rounds timed.
        disturbed_rounds: Of those, rounds whose probe ran slow.
        reason: ``"rounds disagree"`` or ``"too few undisturbed rounds"``.
    """

    key: str
    round_spread: float
    rounds: int
    disturbed_rounds: int
    reason: str


@dataclass(frozen=True)
class CampaignSummary:
    """What the rounds of a campaign came to.

    Attributes:
        cells: Cells summarised in this run.
        rounds_timed: Rounds timed in this run.
        disturbed_rounds: Rounds of this run whose probe ran slow beyond the threshold.
        retimed_rounds: Rounds timed again because an earlier round was disturbed.
        extra_rounds: Rounds added because a cell's rounds disagreed.
        waited_s: Seconds waited for quiet before rounds.
        probe_baseline_ms: The probe's quiet time, or None where no probe ran.
        probe_threshold: The ratio over it that marks a round disturbed.
        unstable_threshold: Round spread above which a cell is flagged.
        unstable: Flagged cells, worst first.
        time_capped: Whether the time cap stopped extra rounds that were still wanted.
        speed_anchor_ms: The machine setting's speed anchor (`profilers.speed`) the latencies
            are scaled to, or None where they are not scaled.
        speed_anchor_set_at: When that anchor was set.
        speed_anchor_new: Whether this campaign set it.
        speed_ratio: The median, over this run's rounds, of the probe's local time over the
            anchor (above 1: the machine ran slower than when the anchor was set).
        speed_note: Why the latencies are not scaled, where they are not.
        gate_kept_share: Where rounds were gated by the probe, the median share of their
            runs that lay between quiet looks (`profilers.probe.ProbeGate`); None otherwise.
    """

    cells: int
    rounds_timed: int
    disturbed_rounds: int
    retimed_rounds: int
    extra_rounds: int
    waited_s: float
    probe_baseline_ms: float | None
    probe_threshold: float | None
    unstable_threshold: float
    unstable: tuple[UnstableCell, ...] = ()
    time_capped: bool = False
    speed_anchor_ms: float | None = None
    speed_anchor_set_at: str | None = None
    speed_anchor_new: bool = False
    speed_ratio: float | None = None
    speed_note: str = ""
    gate_kept_share: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as JSON data."""
        return asdict(self)

    def speed_line(self) -> str:
        """One line on the speed anchor the latencies are scaled to."""
        if self.speed_anchor_ms is None:
            return f"speed: latencies not scaled to a speed anchor ({self.speed_note or 'off'})"
        ran = (
            ""
            if self.speed_ratio is None
            else f"; the probe ran at {self.speed_ratio:.3f}x the anchor's time in this campaign"
        )
        if self.speed_anchor_new:
            return (
                f"speed: anchor set now (probe {self.speed_anchor_ms:.4f} ms): later campaigns "
                f"of this machine setting are scaled to it{ran}"
            )
        return (
            f"speed: latencies scaled to the machine setting's anchor of "
            f"{self.speed_anchor_set_at} (probe {self.speed_anchor_ms:.4f} ms){ran}"
        )

    def lines(self, shown: int = 3) -> list[str]:
        """Return the summary as a few lines of text, naming the ``shown`` worst cells."""
        probe = (
            f"probe over {self.probe_threshold:g}x its quiet {self.probe_baseline_ms:.3f} ms"
            if self.probe_baseline_ms is not None and self.probe_threshold is not None
            else "no probe"
        )
        if self.gate_kept_share is not None and self.probe_baseline_ms is not None:
            probe = (
                f"too few runs between quiet looks of the probe, quiet "
                f"{self.probe_baseline_ms:.3f} ms; a round's median rests on the runs between "
                f"quiet looks, {100 * self.gate_kept_share:.0f} % of them at the median"
            )
        lines = [
            f"rounds: {self.rounds_timed} timed; {self.disturbed_rounds} disturbed ({probe}), "
            f"{self.retimed_rounds} re-timed; {self.extra_rounds} extra where rounds disagreed"
            + ("; time cap reached" if self.time_capped else "")
        ]
        if self.waited_s > 0:
            lines.append(f"waited {self.waited_s:.1f} s in all for the machine to be quiet")
        lines.append(self.speed_line())
        if not self.unstable:
            lines.append(
                f"unstable: none of {self.cells} cells (none whose rounds disagree by more "
                f"than ±{100 * self.unstable_threshold:.1f} %)"
            )
            return lines
        worst = ", ".join(
            f"{cell.key} (±{100 * cell.round_spread:.1f} %, {cell.disturbed_rounds} of "
            f"{cell.rounds} rounds disturbed)"
            for cell in self.unstable[:shown]
        )
        more = len(self.unstable) - min(shown, len(self.unstable))
        apart = sum(cell.reason == DISAGREE for cell in self.unstable)
        reasons = [
            f"{apart} whose rounds disagree by more than ±{100 * self.unstable_threshold:.1f} %"
            if apart
            else "",
            f"{len(self.unstable) - apart} with most rounds disturbed"
            if len(self.unstable) > apart
            else "",
        ]
        lines.append(
            f"unstable: {len(self.unstable)} of {self.cells} cells ("
            + ", ".join(r for r in reasons if r)
            + f"); worst: {worst}"
            + (f" and {more} more" if more else "")
            + f". To fix: {FIXES}"
        )
        return lines

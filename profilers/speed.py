"""The speed anchor: every campaign of a machine setting reports latencies at one speed.

A shared machine's speed drifts by a few per cent over minutes (its hypervisor, its
neighbours), and every cell timed meanwhile moves with it: two quiet profiles of the same
cells taken minutes apart differ by that drift, however many rounds each cell gets. The
disturbance probe (`profilers.probe`), a fixed workload timed beside every round, drifts with
the cells: over 6 quiet campaigns of the same 24 NB201 cells on the 2-core VM, the median of
its windows moved with the cells' common shift at a correlation of 0.96.

So a machine setting (device, runtime and its settings, placement, CPU and probe) has an
anchor: the median probe window of its first campaign. A round's latency is scaled by the
anchor over the probe's local time, the median probe time of the ``NEIGHBOURS`` undisturbed
rounds timed nearest it, and a cell's latency is the median of its scaled rounds. The raw
rounds stay in the store; the scaled measurement records the anchor and the factor.

Anchors are kept in a JSON file shared by the setting's stores (``SpeedAnchors.default``:
``$HWNAS_SPEED_ANCHORS``, else ``$XDG_STATE_HOME/hwnas/speed-anchors.json``, else
``~/.local/state/hwnas/speed-anchors.json``); a store that already holds anchored
measurements of the setting keeps its own anchor, so one store never mixes two.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from profilers.errors import ConfigError
from profilers.stats import LatencyStats

NEIGHBOURS = 30
"""Undisturbed rounds whose probe times give a round's local probe time (about a fifth of a
24-cell campaign of 5 rounds: near enough to follow a drift of minutes, many enough that one
round's probe noise does not move it)."""

ANCHORS_ENV = "HWNAS_SPEED_ANCHORS"


@dataclass(frozen=True)
class SpeedAnchor:
    """A machine setting's reference speed.

    Attributes:
        probe_ms: The probe's median window in the setting's first campaign.
        set_at: When it was set (UTC, ISO 8601).
        digest: The setting's digest (`setting_digest`).
        setting: The setting it belongs to, as JSON data.
    """

    probe_ms: float
    set_at: str
    digest: str
    setting: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Return the anchor as JSON data."""
        return {
            "probe_ms": self.probe_ms,
            "set_at": self.set_at,
            "digest": self.digest,
            "setting": dict(self.setting),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpeedAnchor:
        """Build an anchor from ``to_dict`` output."""
        probe_ms = float(data["probe_ms"])
        if not np.isfinite(probe_ms) or probe_ms <= 0:
            raise ValueError(f"probe_ms must be a positive number, got {probe_ms}")
        return cls(probe_ms, str(data["set_at"]), str(data["digest"]), dict(data["setting"]))


def setting_digest(setting: Mapping[str, Any]) -> str:
    """Return a short digest of a machine setting (JSON data, key order ignored)."""
    text = json.dumps(setting, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SpeedAnchors:
    """The anchors of machine settings, in one JSON file.

    Args:
        path: The file (created when the first anchor is set).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()

    @classmethod
    def default(cls) -> SpeedAnchors:
        """The user's anchors file (see the module's docstring)."""
        if os.environ.get(ANCHORS_ENV):
            return cls(os.environ[ANCHORS_ENV])
        state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        return cls(Path(state) / "hwnas" / "speed-anchors.json")

    def _read(self) -> dict[str, SpeedAnchor]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            return {digest: SpeedAnchor.from_dict(value) for digest, value in data.items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
            raise ConfigError(
                f"the speed anchors file {self.path} is unreadable ({type(err).__name__}: "
                f"{err}): delete it (the next campaign of each setting sets a new anchor) or "
                f"point {ANCHORS_ENV} at another file"
            ) from None

    def check(self) -> None:
        """Raise `ConfigError` if the file exists and cannot be read."""
        self._read()

    def get(self, digest: str) -> SpeedAnchor | None:
        """Return the anchor of a setting's digest, or None."""
        return self._read().get(digest)

    def add(self, anchor: SpeedAnchor) -> SpeedAnchor:
        """Keep ``anchor`` unless the file already holds one of its setting; return the kept."""
        anchors = self._read()
        if anchor.digest in anchors:
            return anchors[anchor.digest]
        anchors[anchor.digest] = anchor
        data = {digest: value.to_dict() for digest, value in anchors.items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.part")
        partial.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(partial, self.path)
        return anchor


def round_probe_ms(info: Mapping[str, Any]) -> float | None:
    """The probe time of one round: the median of its windows, or None without any."""
    windows = [float(w) for w in (info.get("probe_ms") or []) if w is not None and w > 0]
    return statistics.median(windows) if windows else None


def local_probe_ms(
    times: Sequence[float | None], disturbed: Sequence[bool], neighbours: int = NEIGHBOURS
) -> list[float | None]:
    """Each round's local probe time: the median over the nearest undisturbed rounds.

    Args:
        times: Round probe times in the order the rounds were timed (None: no probe).
        disturbed: Whether each round was disturbed (its probe is left out; where every
            round was disturbed, all are used).
        neighbours: How many rounds the median is over (fewer where there are fewer).
    """
    if len(times) != len(disturbed):
        raise ValueError("local_probe_ms() needs one disturbed flag per round")
    usable = [i for i, t in enumerate(times) if t is not None and not disturbed[i]]
    if not usable:
        usable = [i for i, t in enumerate(times) if t is not None]
    if not usable:
        return [None] * len(times)
    positions = np.array(usable)
    values = np.array([times[i] for i in usable], dtype=float)
    out = []
    for i in range(len(times)):
        nearest = np.argsort(np.abs(positions - i), kind="stable")[:neighbours]
        out.append(float(np.median(values[nearest])))
    return out


def scaled(stats: LatencyStats, factor: float) -> LatencyStats:
    """Return ``stats`` with its times multiplied by ``factor`` (the spread and runs kept)."""
    return replace(
        stats,
        median_ms=stats.median_ms * factor,
        p90_ms=stats.p90_ms * factor,
        p99_ms=stats.p99_ms * factor,
        mean_ms=stats.mean_ms * factor,
    )


def new_anchor(probe_ms: float, setting: Mapping[str, Any]) -> SpeedAnchor:
    """An anchor set now from a campaign's probe time."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    return SpeedAnchor(float(probe_ms), stamp, setting_digest(setting), dict(setting))

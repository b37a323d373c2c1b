"""`hwnas profile` scales to the machine setting's speed anchor, and says so; or not, if asked."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from hwnas.cli import main
from hwnas.jobs import profile as profile_job
from hwnas.jobs.profile import ProfileConfig
from profilers import MeasurementStore


def test_profile_sets_the_anchor_then_scales_to_it_and_can_be_told_not_to(
    tmp_path, capsys, monkeypatch
):
    archs = profile_job.profile_archs(ProfileConfig(samples=0))[:2]
    monkeypatch.setattr(profile_job, "profile_archs", lambda config: archs)
    base = ["profile", "--samples", "0", "--exporter", "legacy", "--rounds", "2"]
    base += ["--max-time-s", "0.05"]

    assert main([*base, "--out", str(tmp_path / "one")]) == 0
    assert "speed: anchor set now (probe " in capsys.readouterr().out
    anchors = json.loads(Path(os.environ["HWNAS_SPEED_ANCHORS"]).read_text())
    (anchor,) = anchors.values()
    assert anchor["setting"]["settings"]["intra_op_threads"] == 1 and anchor["probe_ms"] > 0

    assert main([*base, "--out", str(tmp_path / "two")]) == 0
    assert f"scaled to the machine setting's anchor of {anchor['set_at']}" in (
        capsys.readouterr().out
    )
    with MeasurementStore(tmp_path / "two" / "measurements.sqlite", create=False) as store:
        speed = store.measurements()[0].fingerprint["speed"]
    assert speed["anchor"]["digest"] == anchor["digest"] and speed["factor"] > 0

    assert main([*base, "--no-speed-anchor", "--out", str(tmp_path / "raw")]) == 0
    assert "speed: latencies not scaled to a speed anchor (the speed anchor is off)" in (
        capsys.readouterr().out
    )
    with MeasurementStore(tmp_path / "raw" / "measurements.sqlite", create=False) as store:
        row = store.measurements()[0]
        rounds = store.rounds(row.key)
    kept = [r.latency.median_ms for r in rounds if not r.disturbed] or [
        r.latency.median_ms for r in rounds
    ]
    assert row.fingerprint["speed"] == {"note": "the speed anchor is off"}
    assert row.latency.median_ms == pytest.approx(float(np.median(kept)))  # unscaled

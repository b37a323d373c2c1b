"""`hwnas run`'s closed loop: a shipped file that misses the budget is measured, refitted, retried.

The profile, the training and the export are replaced by recorded stand-ins (the NB201 table's
Xeon Gold 6240 latencies, and an export whose fp32 verdict is given): what is tested is the
loop, the summary and the exit status, not a timing.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from hwnas.cli.run import print_run
from hwnas.jobs import pipeline
from hwnas.jobs.generate import latencies_from_table
from hwnas.jobs.pipeline import EXIT_BUDGET_NOT_KEPT, EXIT_KEPT, run_pipeline
from hwnas.jobs.profile import ProfileResult


def _report(out_dir: Path, measured_ms: float, budget_ms: float):
    verdict = "yes" if measured_ms <= budget_ms else "no"
    band = {"median_ms": measured_ms, "ci_low_ms": measured_ms, "ci_high_ms": measured_ms}
    return SimpleNamespace(
        details={
            "budget_verdict": {**band, "verdict": verdict},
            "budget_verdict_raw": {**band, "verdict": verdict},
        },
        accuracy=SimpleNamespace(
            pytorch_top1_percent=97.0, of=lambda p: None, data="digits", split="test", images=359
        ),
        accuracy_of=lambda p: 97.0,
        file=lambda p: SimpleNamespace(passed=True, path=str(out_dir / f"{p}.onnx")),
        choice=SimpleNamespace(
            fastest="fp32",
            fastest_within_drop="fp32",
            slower_than_fp32=(),
            max_accuracy_drop_points=1.0,
        ),
        onnx_path=str(out_dir / "fp32.onnx"),
        precisions=("fp32",),
        latency_ms=lambda p: measured_ms,
        latency_for_budget=SimpleNamespace(precision="fp32"),
        model_label="trained",
        device="local-vm",
        batch_size=1,
    )


@pytest.fixture
def loop(monkeypatch, tmp_path):
    """run_pipeline with a recorded profile; `slow` maps cells to measured/predicted ratios."""
    table = latencies_from_table("gold_6240")
    latencies = dict(list(table.items())[:40])
    profile = ProfileResult(
        device="local-vm", store_path=tmp_path / "m.sqlite", csv_path=None, latency_ms=latencies
    )
    monkeypatch.setattr(pipeline, "profile_device", lambda *a, **k: profile)
    setting = SimpleNamespace(
        to_dict=lambda: {}, label="stand-in", input_shape=(1, 8, 8), sizes={}, num_classes=10
    )
    setting.input_size = None
    monkeypatch.setattr(pipeline, "network_setting", lambda plan, space: setting)
    monkeypatch.setattr(pipeline, "_check_shipped_setting", lambda *a: None)
    trained = []

    def train(arch, space, plan, model_dir, progress):
        trained.append(arch)
        return SimpleNamespace(
            model_dir=model_dir,
            epochs=1,
            epochs_run=1,
            resumed_from=None,
            val_accuracy=97.0,
            test_accuracy=97.0,
            train_seconds=0.1,
            best_epoch=1,
        )

    monkeypatch.setattr(pipeline, "_train", train)
    state = {"ratio": lambda attempt: 2.0}
    exports = []

    def export(model_dir, out_dir, config, plan, device, chosen, budget, store, companions=()):
        exports.append(chosen.arch)
        measured = chosen.predicted_latency_ms * state["ratio"](len(exports))
        return _report(out_dir, measured, budget)

    monkeypatch.setattr(pipeline, "_export", export)
    return SimpleNamespace(
        out=tmp_path, latencies=latencies, trained=trained, exports=exports, state=state
    )


def test_a_file_that_misses_its_budget_is_measured_and_the_next_cell_tried(loop, capsys):
    result = run_pipeline(loop.out, budget_ms=5.0, attempts=3, device=_device())
    # every attempt missed (2x its prediction): three cells, each different, none kept
    assert len(result.attempts) == 3 and len(set(loop.trained)) == 3
    assert [a.verdict for a in result.attempts] == ["no", "no", "no"]
    assert result.exit_status == EXIT_BUDGET_NOT_KEPT and not result.budget_kept
    # the best attempt is the answer: the lowest measured latency among the misses
    best = min(result.attempts, key=lambda a: a.measured_latency_ms)
    assert result.shipped == best
    summary = json.loads(result.summary_path.read_text())
    assert summary["exit_status"] == EXIT_BUDGET_NOT_KEPT and summary["budget_kept"] is False
    assert [a["arch"] for a in summary["attempts"]] == loop.trained
    assert sum(a["shipped"] for a in summary["attempts"]) == 1
    print_run(result, "90% bound")
    out = capsys.readouterr().out
    assert "budget NOT kept" in out and f"exit status {EXIT_BUDGET_NOT_KEPT}" in out
    assert sum(line.startswith("  ") and "verdict no" in line for line in out.splitlines()) == 3


def test_the_loop_stops_at_the_first_kept_file(loop):
    loop.state["ratio"] = lambda attempt: 2.0 if attempt == 1 else 0.9
    result = run_pipeline(loop.out, budget_ms=5.0, attempts=3, device=_device())
    assert [a.verdict for a in result.attempts] == ["no", "yes"]
    assert result.exit_status == EXIT_KEPT and result.shipped.number == 2
    # the first file's measurement joined the data the second choice was made on
    first = result.attempts[0]
    assert first.measured_latency_ms == pytest.approx(2.0 * first.predicted_latency_ms)


def test_one_attempt_is_the_old_behaviour_with_a_truthful_status(loop):
    result = run_pipeline(loop.out, budget_ms=5.0, attempts=1, device=_device())
    assert len(result.attempts) == 1 and result.exit_status == EXIT_BUDGET_NOT_KEPT


def test_attempts_must_be_positive(loop):
    from hwnas.jobs.pipeline import PipelineError

    with pytest.raises(PipelineError, match="--attempts"):
        run_pipeline(loop.out, budget_ms=5.0, attempts=0, device=_device())


def _device():
    from devices import local_device

    return local_device()

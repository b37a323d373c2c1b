"""The probe and rounds on the PyTorch runtimes: eager on the CPU here, a CUDA graph on a GPU."""

import threading

import pytest

from profilers import TimingConfig, create_runtime
from profilers.probe import ProbeConfig, open_probe, probe_torch_model
from profilers.round_timing import timed_round

TIMING = TimingConfig(warmup_runs=3, warmup_s=0.0, min_runs=10, max_runs=50, max_time_s=0.2)


def _cuda_ok() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.version.cuda is not None and torch.cuda.is_available()


def test_a_round_of_a_torch_model_on_the_cpu_is_timed_beside_the_torch_probe():
    runtime = create_runtime("torch", device="cpu", threads=1)
    probe = open_probe(runtime, ProbeConfig(runs=5, calibration_windows=2, max_wait_s=0.0))
    try:
        stats, info = timed_round(probe_torch_model(), runtime, TIMING, probe=probe)
    finally:
        probe.close()
    assert stats.n >= TIMING.min_runs and info["timer"] == "host_perf_counter_ns"
    assert len(info["round"]["probe_ms"]) == 2 and info["round"]["probe_ratio"] > 0
    assert info["model"] == "hwnas_probe"


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_ok(), reason="needs a CUDA GPU and a CUDA build of PyTorch")
def test_the_cuda_graph_probe_times_with_cuda_events_and_feels_a_busy_gpu():
    import torch

    runtime = create_runtime("torch-cudagraph", device="cuda:0")
    probe = open_probe(runtime, ProbeConfig(runs=50, calibration_windows=5, max_wait_s=0.0))
    try:
        assert probe._timer.kind == "cuda_events"
        baseline = probe.calibrate()
        stats, info = timed_round(probe_torch_model(), runtime, TIMING, probe=probe)
        quiet_ratio = info["round"]["probe_ratio"]
        # a neighbour on the same GPU: large matrix products on another stream
        stop, started = threading.Event(), threading.Event()

        def neighbour():
            stream = torch.cuda.Stream()
            a = torch.randn(8192, 8192, device="cuda:0", dtype=torch.bfloat16)
            with torch.cuda.stream(stream):
                while not stop.is_set():
                    for _ in range(20):
                        a @ a
                    stream.synchronize()
                    started.set()

        thread = threading.Thread(target=neighbour, daemon=True)
        thread.start()
        try:
            assert started.wait(60)
            busy = [probe.ratio(probe.window_ms()) for _ in range(20)]
        finally:
            stop.set()
            thread.join()
    finally:
        probe.close()
    print(
        f"cuda-graph probe: baseline {baseline * 1000:.1f} us, quiet round ratio "
        f"{quiet_ratio:.2f}, beside a matmul neighbour {[round(r, 2) for r in busy]}"
    )
    assert info["timer"] == "cuda_events" and stats.n >= TIMING.min_runs
    assert max(busy) > ProbeConfig().threshold  # the neighbour is seen

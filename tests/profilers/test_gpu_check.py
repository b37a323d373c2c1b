"""benchmarks/gpu_check.py on a machine without a GPU: its exit, and its CPU-side code paths."""

import importlib.util
import time
from pathlib import Path
from unittest import mock

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed")

from hwnas.core.spaces import create_space  # noqa: E402
from profilers import TimingConfig  # noqa: E402
from profilers.energy import EnergyConfig, NullMeter  # noqa: E402
from profilers.energy.external import CallableMeter  # noqa: E402
from profilers.runtimes.torch import TorchRuntime  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the exit where there is no GPU")
def test_exits_with_a_clear_message_without_cuda(gpu_check, capsys):
    assert gpu_check.main(["--cells", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gpu_check needs a CUDA GPU: ") and "torch" in err


def test_cuda_reason_when_the_build_has_cuda_but_no_gpu(gpu_check):
    with (
        mock.patch.object(torch.version, "cuda", "12.4"),
        mock.patch("torch.cuda.is_available", autospec=True, return_value=False),
    ):
        assert "sees no GPU" in gpu_check.cuda_unavailable_reason()


def test_without_nvml_the_meter_is_a_null_meter(gpu_check):
    pynvml = pytest.importorskip("pynvml", reason="nvidia-ml-py is not installed")
    with mock.patch("pynvml.nvmlInit", autospec=True) as init:
        init.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
        meter = gpu_check.open_meter("nvml", index=0)
    assert isinstance(meter, NullMeter) and meter.unavailable_reason.startswith("nvml: ")


def test_profile_cells_and_table_on_the_cpu(gpu_check):
    """The GPU path with a CPU runtime and a fake 3 W meter standing in for CUDA and NVML."""
    space = create_space("nb201")
    arch = space.reference_archs()[0]
    model = gpu_check.cell_model(space, arch)
    small = type(model)(
        build=lambda: space.build(arch, channels=4, cells_per_stage=1),
        inputs=model.inputs,
        name=model.name,
    )
    t0 = time.perf_counter()
    meter = CallableMeter(lambda: 3000.0 * (time.perf_counter() - t0), update_period_s=0.002)
    timing = TimingConfig(warmup_runs=2, warmup_s=0.0, min_runs=6, max_runs=30, max_time_s=0.2)
    rows = gpu_check.profile_cells(
        [small], [TorchRuntime(threads=1)], meter, timing, EnergyConfig(min_window_s=0.02)
    )
    (row,) = rows
    assert row["cell"] == str(arch.index) and row["runtime"] == "torch"
    assert row["timer"] == "host_perf_counter_ns" and row["median_ms"] > 0
    assert row["power_w"] == pytest.approx(3.0, rel=1e-2)
    assert row["idle_power_w"] == pytest.approx(3.0, rel=1e-2)
    table = gpu_check.format_table([row, {**row, "energy_net_mj": None}])
    lines = table.splitlines()
    assert "median ms" in lines[0] and "net mJ/inf" in lines[0] and set(lines[1]) <= {"-", " "}
    assert len(lines) == 4 and lines[3].split()[9] == "-"

"""The three user jobs as typed library functions; the CLI is a thin layer over these."""

from hwnas.errors import InputError
from hwnas.jobs.export import ExportReport, export_arch
from hwnas.jobs.generate import (
    BudgetError,
    GenerateResult,
    LatencyFileError,
    generate_for_budget,
    latencies_from_table,
    read_latency_csv,
)
from hwnas.jobs.pipeline import PipelineResult, run_pipeline
from hwnas.jobs.profile import ProfileConfig, ProfileResult, profile_archs, profile_device

__all__ = [
    "BudgetError",
    "ExportReport",
    "GenerateResult",
    "InputError",
    "LatencyFileError",
    "PipelineResult",
    "ProfileConfig",
    "ProfileResult",
    "export_arch",
    "generate_for_budget",
    "latencies_from_table",
    "profile_archs",
    "profile_device",
    "read_latency_csv",
    "run_pipeline",
]

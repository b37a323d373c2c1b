"""How to measure: runtimes, latency statistics, timing, campaigns and the measurement store.

Importing this package imports no runtime library; onnxruntime is imported the first time a
runtime describes itself or loads a model.
"""

from profilers.campaign import CampaignResult, profile_onnx, run_campaign
from profilers.errors import (
    ConfigError,
    ModelLoadError,
    ProfilerError,
    RuntimeUnavailableError,
    SessionClosedError,
    StoreError,
    UnknownRuntimeError,
)
from profilers.failures import MeasurementFailure
from profilers.measurement import Measurement
from profilers.runtimes import (
    InputSpec,
    Runtime,
    Session,
    create_runtime,
    list_runtimes,
    register_runtime,
)
from profilers.runtimes.onnxruntime import OnnxRuntime
from profilers.stats import LatencyStats, median_ci_halfwidth, summarize
from profilers.store import MeasurementStore
from profilers.targets import LocalTarget, Target
from profilers.timing import TimingConfig, time_callable

__all__ = [
    "CampaignResult",
    "ConfigError",
    "InputSpec",
    "LocalTarget",
    "LatencyStats",
    "Measurement",
    "MeasurementFailure",
    "MeasurementStore",
    "ModelLoadError",
    "OnnxRuntime",
    "ProfilerError",
    "Runtime",
    "RuntimeUnavailableError",
    "Session",
    "SessionClosedError",
    "StoreError",
    "Target",
    "TimingConfig",
    "UnknownRuntimeError",
    "create_runtime",
    "list_runtimes",
    "median_ci_halfwidth",
    "profile_onnx",
    "register_runtime",
    "run_campaign",
    "summarize",
    "time_callable",
]

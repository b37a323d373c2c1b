"""hwnas: hardware-aware NAS and deployment.

Three jobs: profile a device (`hwnas.jobs.profile_device`), generate an architecture for a
latency budget (`hwnas.jobs.generate_for_budget`), export a deployable engine
(`hwnas.jobs.export_arch`). Heavy libraries (torch, onnxruntime, tensorrt, ray) are imported
only by the functions that need them.
"""

__version__ = "0.1.0"

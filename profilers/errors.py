"""Typed exceptions of the profilers package, each carrying a message a user can act on."""

from __future__ import annotations


class ProfilerError(Exception):
    """Base class of every error raised by ``profilers``."""


class ConfigError(ProfilerError, ValueError):
    """A profiling configuration value is out of range."""


class UnknownRuntimeError(ProfilerError, LookupError):
    """A runtime name is not in the registry."""


class RuntimeUnavailableError(ProfilerError, ImportError):
    """A registered runtime cannot run here (its library is missing or lacks a provider)."""


class ModelLoadError(ProfilerError):
    """A model file is missing, corrupt or has inputs a runtime cannot feed."""


class SessionClosedError(ProfilerError):
    """A session was used after ``close()``."""


class StoreError(ProfilerError):
    """A measurement store file is not a usable hwnas store."""

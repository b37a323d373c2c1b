"""Errors of remote targets: the board or farm, not a model, is the problem."""

from __future__ import annotations

from profilers.errors import ProfilerError


class RemoteError(ProfilerError):
    """A remote target cannot be used; measurements finished before it are kept."""


class RemoteUnreachableError(RemoteError):
    """The host or cluster cannot be reached (network, sshd, keys, Ray address)."""


class RemoteSetupError(RemoteError):
    """The remote side is reached but cannot measure: no Python, no hwnas, no runtime."""


class RemoteConnectionLostError(RemoteError):
    """The connection dropped during a campaign; rerun the same command to resume."""

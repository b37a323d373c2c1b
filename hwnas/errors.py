"""The one root of hwnas's errors and its three families, each with its own exit code.

Every error hwnas raises on purpose derives from `HwnasError` through one family:

- `InputError` (exit code 2): an argument, file or value a user can correct; the message names
  it, the value, and what would be accepted.
- `DivergedError` (exit code 3): a computation that ran and diverged (a search whose loss became
  NaN, an architecture that collapsed); the message says what to change to run it again.
- `UnavailableError` (exit code 4): an optional dependency or a piece of hardware is missing;
  the message says what to install or where to run instead.

The packages below hwnas (`devices`, `profilers`, `predictors`) keep their own roots, as they
must not import hwnas; `family_of` places their errors in the same three families, so the CLI
catches `USER_ERRORS` (the roots, not a hand-kept list of leaves) and reports each in one line.
"""

from __future__ import annotations


class HwnasError(Exception):
    """Root of every error hwnas raises on purpose."""

    exit_code = 1
    family = "error"


class InputError(HwnasError, ValueError):
    """An argument or input file that cannot be used; the message says what to change."""

    exit_code = 2
    family = "error"


class DivergedError(HwnasError, RuntimeError):
    """A computation diverged (NaN loss, a collapsed architecture); the message says what to try."""

    exit_code = 3
    family = "diverged"


class UnavailableError(HwnasError, RuntimeError):
    """An optional dependency or hardware is missing; the message says what to install."""

    exit_code = 4
    family = "unavailable"


def user_errors() -> tuple[type[BaseException], ...]:
    """The roots the CLI reports in one line: hwnas's and those of the packages below it."""
    from devices import DeviceError
    from predictors.embedding import EmbeddingError
    from profilers import ProfilerError

    return (HwnasError, DeviceError, ProfilerError, EmbeddingError)


def family_of(err: BaseException) -> type[HwnasError]:
    """The family (`InputError`, `DivergedError`, `UnavailableError`) an error belongs to."""
    if isinstance(err, HwnasError):
        for family in (InputError, DivergedError, UnavailableError):
            if isinstance(err, family):
                return family
        return HwnasError
    from profilers.energy.base import MeterUnavailableError
    from profilers.errors import RuntimeUnavailableError
    from profilers.remote.errors import RemoteUnreachableError

    if isinstance(err, (RuntimeUnavailableError, MeterUnavailableError, RemoteUnreachableError)):
        return UnavailableError
    return InputError

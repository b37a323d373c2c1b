"""The `hwnas` command line: one subcommand per job, each a thin call of `hwnas.jobs`."""

from __future__ import annotations

# Imported here, not lazily: importing the submodule `hwnas.cli.main` binds the package
# attribute `main` to that module, which would shadow a function defined in this file.
from hwnas.cli.main import main


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line on stderr, without the library's source line."""
    import sys

    print(f"hwnas: warning: {message}", file=file or sys.stderr)


def console_main() -> int:
    """The `hwnas` console command: `main` with warnings shown as one line each."""
    import warnings

    warnings.showwarning = _warning_line
    return main()


__all__ = ["console_main", "main"]

"""The `hwnas` command line: one subcommand per job, each a thin call of `hwnas.jobs`."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the `hwnas` command with `argv` (default: `sys.argv[1:]`); returns the exit code."""
    from hwnas.cli.main import main as run

    return run(argv)


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line on stderr, without the library's source line."""
    import sys

    print(f"hwnas: warning: {message}", file=file or sys.stderr)


def console_main() -> int:
    """The `hwnas` console command: `main` with warnings shown as one line each."""
    import warnings

    warnings.showwarning = _warning_line
    return main()

"""The `hwnas` command line: one subcommand per job, each a thin call of `hwnas.jobs`."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the `hwnas` command with `argv` (default: `sys.argv[1:]`); returns the exit code."""
    from hwnas.cli.main import main as run

    return run(argv)

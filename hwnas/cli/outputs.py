"""Output paths checked before any work: never a file where a folder goes, never an input.

Every subcommand with an ``--out`` option gets ``--force``. Before the command runs, its
``--out`` must not be an existing file, its nearest existing parent must be a writable
folder, and it must not be one of the command's own inputs (``predictor adapt --model m
--out m`` would replace the model it adapts) unless ``--force`` is given. A command that
resumes into its own folder (``profile``, ``train``) is unaffected: its folder is no input.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from hwnas.errors import InputError

FORCE_HELP = "write into --out even where it is one of this command's inputs"
NOT_INPUTS = frozenset({"out", "store"})
"""Destinations that are written, not read, so they are no inputs to protect."""


class OutputPathError(InputError):
    """An --out path that cannot or must not be written."""


def add_force_options(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand (at any depth) that has ``--out`` a ``--force`` flag."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                add_force_options(sub)
    options = {s for a in parser._actions for s in a.option_strings}
    if "--out" in options and "--force" not in options:
        parser.add_argument("--force", action="store_true", help=FORCE_HELP)


def _input_paths(args: argparse.Namespace) -> dict[str, Path]:
    paths = {}
    for dest, value in vars(args).items():
        if dest in NOT_INPUTS or not isinstance(value, (str, Path)) or not str(value):
            continue
        path = Path(value)
        if isinstance(value, Path) or path.exists():
            paths[dest] = path
    return paths


def check_output(args: argparse.Namespace) -> None:
    """Raises `OutputPathError` where ``args.out`` must not be written; see the module doc."""
    out = getattr(args, "out", None)
    if out is None:
        return
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"--out {out} is an existing file; name a folder to write into")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"--out {out}: {parent} is not a folder this user can write into")
    if getattr(args, "force", False):
        return
    resolved = out.resolve()
    for dest, path in _input_paths(args).items():
        if path.exists() and path.resolve() == resolved:
            option = "--" + dest.replace("_", "-")
            raise OutputPathError(
                f"--out {out} is also the input {option} {path}: writing there would replace "
                "it; name another folder, or pass --force to overwrite it"
            )

"""Every option's help shows its default: one pass over the finished parser tree.

Options are written with a help text and a ``default=``; this pass appends
`` (default: X)`` to each help that does not already name its default, so that the two never
disagree. Flags (``store_true``), options without a default and suppressed helps are left
as they are.
"""

from __future__ import annotations

import argparse
from pathlib import Path

_FLAG_ACTIONS = (
    argparse._StoreTrueAction,
    argparse._StoreFalseAction,
    argparse._StoreConstAction,
    argparse._CountAction,
    argparse._HelpAction,
    argparse._VersionAction,
)


def shown_default(value: object) -> str:
    """Return a default as a user would type it on the command line."""
    if isinstance(value, (list, tuple)):
        return " ".join(shown_default(item) for item in value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def add_default_notes(parser: argparse.ArgumentParser) -> None:
    """Append `` (default: X)`` to the help of every option (at any depth) lacking it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                add_default_notes(sub)
            continue
        if not action.option_strings or isinstance(action, _FLAG_ACTIONS):
            continue
        if action.default in (None, argparse.SUPPRESS) or action.help == argparse.SUPPRESS:
            continue
        if action.help and "default" in action.help:
            continue
        note = f"(default: {shown_default(action.default)})".replace("%", "%%")
        action.help = f"{action.help} {note}" if action.help else note

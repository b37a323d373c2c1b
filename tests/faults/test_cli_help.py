"""Every option of every subcommand has a help text, and every option with a default shows it."""

from __future__ import annotations

import argparse
import importlib

import pytest

import hwnas.cli
from hwnas.cli.help_defaults import add_default_notes, shown_default


def build_parser() -> argparse.ArgumentParser:
    """`hwnas.cli.main.build_parser()`, leaving the package's `main` function as it was.

    The first import of the submodule `hwnas.cli.main` rebinds the package attribute
    `hwnas.cli.main` (a function) to the module, which breaks `from hwnas.cli import main` in
    test modules collected later.
    """
    run = hwnas.cli.main
    try:
        return importlib.import_module("hwnas.cli.main").build_parser()
    finally:
        hwnas.cli.main = run


FLAGS = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction)


def _options(parser, path=("hwnas",)):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, (*path, name))
        elif action.option_strings and action.dest != "help":
            yield " ".join(path), action


OPTIONS = list(_options(build_parser()))


def test_the_walk_sees_every_subcommand():
    commands = {command for command, _ in OPTIONS}
    assert {"hwnas profile", "hwnas generate", "hwnas darts search", "hwnas nes search"} <= commands
    assert len(OPTIONS) > 200


def test_every_option_has_help():
    missing = [f"{command} {a.option_strings[0]}" for command, a in OPTIONS if not a.help]
    assert missing == []


def test_every_option_with_a_default_shows_it():
    hidden = [
        f"{command} {a.option_strings[0]} (default {a.default!r}): {a.help}"
        for command, a in OPTIONS
        if not isinstance(a, FLAGS)
        and a.default not in (None, argparse.SUPPRESS)
        and "default" not in a.help
    ]
    assert hidden == []


def test_every_help_renders():
    """Help strings are %-formatted by argparse: a stray % would raise here."""
    pending = [build_parser()]
    while pending:
        parser = pending.pop()
        assert parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend(action.choices.values())


@pytest.mark.parametrize(
    ("default", "shown"),
    [(0.025, "0.025"), (3e-4, "0.0003"), ([40, 128, 256], "40 128 256"), ("50%", "50%")],
)
def test_the_note_is_appended_once_and_as_typed(default, shown):
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", default=default, help="some value")
    parser.add_argument("--y", default=1, help="other value (default 1)")
    parser.add_argument("--z", default=2)
    parser.add_argument("--flag", action="store_true", help="a flag")
    add_default_notes(parser)
    add_default_notes(parser)  # a second pass adds nothing
    helps = {a.dest: a.help for a in parser._actions}
    assert helps["x"] == f"some value (default: {shown})".replace("%", "%%")
    assert helps["y"] == "other value (default 1)" and helps["z"] == "(default: 2)"
    assert helps["flag"] == "a flag" and shown_default(default) == shown
    assert f"(default: {shown})" in parser.format_help()

"""Constants the command line offers are the library's own, not copies that can drift apart."""

import argparse
import importlib

from hwnas.methods.lrnn.tasks import TASKS
from predictors.regressor import make_candidate
from predictors.regressor_names import CANDIDATES


def build_parser() -> argparse.ArgumentParser:
    # imported here: importing the module hwnas.cli.main at collection would shadow the
    # function hwnas.cli.main that other test modules import
    return importlib.import_module("hwnas.cli.main").build_parser()


def _choices(parser: argparse.ArgumentParser, path: tuple[str, ...], option: str) -> tuple:
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    action = next(a for a in parser._actions if option in a.option_strings)
    return tuple(action.choices)


def test_generate_model_choices_are_the_regressor_candidates():
    assert _choices(build_parser(), ("generate",), "--model") == ("auto", *CANDIDATES)
    for name in CANDIDATES:  # every offered name builds a model
        assert make_candidate(name) is not None


def test_lrnn_task_choices_are_the_registered_tasks():
    assert _choices(build_parser(), ("lrnn", "train"), "--task") == tuple(TASKS)


def test_version_is_the_installed_distributions(capsys):
    from importlib.metadata import version

    import pytest

    import hwnas

    main = importlib.import_module("hwnas.cli.main").main

    assert hwnas.__version__ == version("hwnas")  # pyproject.toml and hwnas/__init__.py agree
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hwnas {hwnas.__version__}"

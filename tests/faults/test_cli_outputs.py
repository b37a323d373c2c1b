"""Output paths are checked before any work: a table of commands whose --out is a file or an input.

Each row runs the real CLI; the check must refuse it in one line with exit code 2, before the
command starts its work, and leave every input byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import shutil
import time

import pytest

from hwnas.cli import main
from hwnas.methods.modnas.model import shipped_model_dir

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"

OUT_IS_A_FILE = [
    ["profile", "--samples", "0"],
    ["run", "--samples", "0"],
    ["predictor", "fit"],
    ["darts", "search"],
    ["nes", "search"],
    ["lrnn", "train"],
    ["export", "--arch", ARCH],
]


def _digest(path):
    if path.is_dir():
        return {p.name: _digest(p) for p in sorted(path.iterdir())}
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("command", OUT_IS_A_FILE, ids=lambda c: " ".join(c[:2]))
def test_out_naming_an_existing_file_is_refused_before_any_work(tmp_path, capsys, command):
    target = tmp_path / "report.txt"
    target.write_text("the user's own file\n")
    start = time.perf_counter()
    code = main([*command, "--out", str(target)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "is an existing file" in err and "Traceback" not in err
    assert target.read_text() == "the user's own file\n"
    assert time.perf_counter() - start < 5  # refused before the work, not after it


def test_adapt_refuses_to_overwrite_its_own_base_model(tmp_path, capsys):
    model = shutil.copytree(shipped_model_dir() / "predictor", tmp_path / "m")
    samples = tmp_path / "samples.csv"
    samples.write_text("arch,latency_ms\n")  # never read: the output check comes first
    before = _digest(model)
    code = main(["predictor", "adapt", "--model", str(model), "--samples", str(samples),
                 "--out", str(model)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "--out" in err and "--model" in err and "--force" in err
    assert _digest(model) == before


def test_out_under_a_file_or_unwritable_folder_is_refused(tmp_path, capsys):
    blocker = tmp_path / "plain"
    blocker.write_text("x")
    code = main(["predictor", "fit", "--out", str(blocker / "model")])
    assert code == 2 and "is not a folder this user can write into" in capsys.readouterr().err


def test_every_command_with_out_has_force():
    from hwnas.cli.main import build_parser

    def walk(parser, path=()):
        import argparse

        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, (*path, name))
        options = {s for a in parser._actions for s in a.option_strings}
        if "--out" in options:
            yield path, "--force" in options

    found = list(walk(build_parser()))
    assert len(found) >= 8 and all(has_force for _, has_force in found), found

"""`import predictors` loads neither scikit-learn nor scipy; its names import them on use."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def imported(code: str) -> list[str]:
    code += "; import sys; print(' '.join(m for m in ('scipy', 'sklearn') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    return out.stdout.split()


def test_import_predictors_imports_neither_scipy_nor_sklearn():
    assert imported("import predictors") == []
    assert imported("import predictors.metrics") == []


def test_names_are_imported_on_first_use():
    assert imported("from predictors import spearman; spearman([1, 2], [2, 1])") == ["scipy"]
    assert "sklearn" in imported("from predictors import LatencyRegressor")


def test_unknown_name_is_an_attribute_error():
    import predictors

    assert "LatencyRegressor" in dir(predictors)
    with pytest.raises(AttributeError, match="no_such_predictor"):
        predictors.no_such_predictor  # noqa: B018

"""Small fitted models shared by the MODNAS tests (fitted once per test session)."""

from __future__ import annotations

import pytest

DEVICES = ("1080ti_1", "pixel3", "gold_6240")


@pytest.fixture(scope="session")
def predictor():
    """A small MetaPredictor fitted on three devices of the shipped NB201 latency table."""
    from hwnas.methods.predictor import FitConfig, fit_model
    from hwnas.methods.predictor_data import load_table

    return fit_model("nb201", load_table("nb201"), FitConfig(hidden=32, epochs=2), DEVICES)


@pytest.fixture(scope="session")
def surrogate():
    """A small accuracy surrogate fitted on the shipped NB201 accuracy table."""
    from hwnas.methods.modnas.objectives import SurrogateConfig, fit_surrogate

    return fit_surrogate(SurrogateConfig(hidden=32, epochs=3))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, predictor, surrogate):
    """A small MODNAS model (40 hypernetwork steps over the three devices), saved."""
    from hwnas.methods.modnas.evaluate import latency_ratio_quantiles
    from hwnas.methods.modnas.model import save_modnas_model
    from hwnas.methods.modnas.objectives import PredictedHardware
    from hwnas.methods.modnas.train import DeviceObjectives, TrainConfig, train_hypernetwork

    devices = [
        DeviceObjectives(
            name,
            predictor.training_devices[name].array,
            [PredictedHardware(predictor.members, predictor.training_devices[name])],
        )
        for name in DEVICES
    ]
    model, report = surrogate
    result = train_hypernetwork(model, devices, TrainConfig(steps=40, hidden=16, preferences=4))
    hyper = result.hypernetwork
    meta = {
        "space": "nb201",
        "mode": "surrogate",
        "dataset": "cifar10",
        "objectives": ["error:cifar10", "latency_ms"],
        "hypernetwork": {
            "n_objectives": 2,
            "embedding_dim": hyper.embedding_dim,
            "hidden": hyper.hidden,
            "bound": hyper.bound,
        },
        "training_devices": list(DEVICES),
        "surrogate": {"hidden": 32, "accuracy_range": list(model.accuracy_range), "fit": report},
        "predictor_error": latency_ratio_quantiles(predictor, DEVICES),
    }
    return save_modnas_model(
        tmp_path_factory.mktemp("modnas") / "model", meta, hyper, predictor, model
    )

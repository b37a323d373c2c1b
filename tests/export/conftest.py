"""A small model folder trained on digits in seconds, as `hwnas train` writes one."""

import numpy as np
import pytest
import torch

CELL = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


def train_digits_model(out, data_spec: str = "digits", epochs: int = 4):
    """An NB201 cell (8 channels, 1 cell per stage) trained with Adam on raw digit pixels;
    grey images repeated to 3 channels and normalised inside the `DeployableNetwork`."""
    from hwnas.core.datasets import load_split_dataset
    from hwnas.core.deployable import build_deployable
    from hwnas.core.trained import TrainedModelSpec, save_trained_model

    data = load_split_dataset(data_spec)
    spec = TrainedModelSpec(
        space="nb201",
        arch=CELL,
        input_shape=tuple(data.train.x.shape[1:]),
        num_classes=len(data.class_names),
        class_names=data.class_names,
        mean=tuple(data.mean) * 3,
        std=tuple(data.std) * 3,
        network_input=(3, *data.train.x.shape[2:]),
        network={"channels": 8, "cells_per_stage": 1},
        data={"spec": data_spec, "fingerprint": data.fingerprint},
        training={"epochs": epochs, "optimizer": "adam", "lr": 1e-2},
    )
    torch.manual_seed(0)
    model = build_deployable(spec)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.from_numpy(data.train.x), torch.from_numpy(data.train.y)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=generator)
        for i in range(0, len(y), 64):
            rows = order[i : i + 64]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[rows]), y[rows]).backward()
            optimizer.step()
    return save_trained_model(out, model.eval().state_dict(), spec)


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory):
    """A trained digits model folder (about 90 % top-1 on the test split)."""
    return train_digits_model(tmp_path_factory.mktemp("digits") / "model")


@pytest.fixture(scope="session")
def heldout_npz(tmp_path_factory):
    """Raw digit images in the format of an npz spec (x float32 (N, 1, 8, 8) in [0, 1], y)."""
    from hwnas.core.datasets import load_split_dataset

    test = load_split_dataset("digits").test
    path = tmp_path_factory.mktemp("heldout") / "heldout.npz"
    np.savez(path, x=test.x.astype(np.float32), y=test.y, x_test=test.x, y_test=test.y)
    return path

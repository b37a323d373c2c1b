"""Weight inheritance: the chosen cell's network holds exactly its slice of a saved supernet."""

import json

import numpy as np
import pytest
import torch

from hwnas.core.datasets import Dataset, ImageData
from hwnas.core.spaces.nb201 import EDGES, NB201Arch
from hwnas.core.spaces.nb201_net import NB201Cell, NB201Network
from hwnas.core.spaces.nb201_supernet import weights_from_arch
from hwnas.methods.modnas.supernet import (
    SupernetAccuracy,
    SupernetConfig,
    SupernetFolderError,
    save_supernet,
)
from hwnas.methods.training.inherit import SupernetShapeError, inherit_from_supernet

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"


def _grey_data() -> Dataset:
    rng = np.random.default_rng(0)
    y = np.arange(96) % 10
    x = (rng.normal(size=(96, 1, 8, 8)) + y[:, None, None, None] / 5).astype(np.float32)
    part = ImageData(x, y.astype(np.int64), 10)
    return Dataset("grey", part, part)


@pytest.fixture(scope="module")
def supernet_dir(tmp_path_factory):
    objective = SupernetAccuracy(
        SupernetConfig(channels=4, cells_per_stage=2, batch_size=16, max_images=64),
        dataset=_grey_data(),
    )
    objective.warm_up(4)  # trained weights and BatchNorm statistics, not the initial ones
    out = save_supernet(objective, tmp_path_factory.mktemp("modnas") / "supernet")
    return out, objective.supernet


def test_inherited_weights_equal_the_supernet_slice(supernet_dir):
    folder, supernet = supernet_dir
    arch = NB201Arch.from_string(ARCH)
    network = NB201Network(arch, num_classes=10, channels=4, cells_per_stage=2)
    info = inherit_from_supernet(network, folder)
    assert info["channels"] == 4 and info["cells_per_stage"] == 2
    mine, theirs = network.state_dict(), supernet.state_dict()
    checked = 0
    for i, layer in enumerate(network.cells):
        if not isinstance(layer, NB201Cell):
            continue
        for k, (node, source) in enumerate(layer.edges):
            edge = EDGES.index((node, source))
            op = arch.ops[edge]
            prefix = f"cells.{i}.edges.{edge}.ops.{op}."
            for name in layer.ops[k].state_dict():
                assert torch.equal(mine[f"cells.{i}.ops.{k}.{name}"], theirs[prefix + name])
                checked += 1
    assert checked > 0
    for key in ("classifier.weight", "lastact.0.running_mean", "cells.2.conv_a.1.weight"):
        assert torch.equal(mine[key], theirs[key])
    # the supernet saw grey digits (1 channel); the network sees them repeated to 3
    stem = mine["stem.0.weight"]
    assert stem.shape[1] == 3 and theirs["stem.0.weight"].shape[1] == 1
    torch.testing.assert_close(stem.sum(1, keepdim=True), theirs["stem.0.weight"])
    x = torch.rand(2, 1, 8, 8)
    network.eval(), supernet.eval()
    torch.testing.assert_close(
        network(x.repeat(1, 3, 1, 1)), supernet(x, weights_from_arch(arch)), atol=1e-5, rtol=1e-4
    )


def test_a_supernet_of_another_shape_is_refused(supernet_dir, tmp_path):
    folder, _ = supernet_dir
    arch = NB201Arch.from_string(ARCH)
    with pytest.raises(SupernetShapeError, match=r"channels 4 \(network 8\).*--channels 4"):
        inherit_from_supernet(NB201Network(arch, 10, 8, 2), folder)
    with pytest.raises(SupernetShapeError, match=r"cells_per_stage 2 \(network 1\)"):
        inherit_from_supernet(NB201Network(arch, 10, 4, 1), folder)
    with pytest.raises(SupernetFolderError, match="hwnas modnas train --mode supernet"):
        inherit_from_supernet(NB201Network(arch, 10, 4, 2), tmp_path)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in ("supernet.json", "supernet.safetensors"):
        (damaged / name).write_bytes((folder / name).read_bytes())
    meta = json.loads((damaged / "supernet.json").read_text())
    meta["sha256"]["supernet.safetensors"] = "0" * 64
    (damaged / "supernet.json").write_text(json.dumps(meta))
    with pytest.raises(SupernetFolderError, match="sha256 differs"):
        inherit_from_supernet(NB201Network(arch, 10, 4, 2), damaged)

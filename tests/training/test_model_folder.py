"""Model folders: preprocessing inside the DeployableNetwork, sha256 checks, every space builds."""

import json

import numpy as np
import pytest
import torch

from hwnas.core.deployable import DeployableNetwork, build_deployable, load_trained_model
from hwnas.core.trained import (
    TrainedModelError,
    TrainedModelSpec,
    load_state_dict,
    save_trained_model,
)

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def _spec(**overrides):
    values = dict(
        space="nb201",
        arch=ARCH,
        input_shape=(1, 8, 8),
        num_classes=3,
        class_names=("a", "b", "c"),
        mean=(0.25, 0.25, 0.25),
        std=(0.5, 0.5, 0.5),
        network_input=(3, 16, 16),
        network={"channels": 4, "cells_per_stage": 1},
    )
    values.update(overrides)
    return TrainedModelSpec(**values)


class _Probe(torch.nn.Module):
    """Returns what it is fed, to see the preprocessing."""

    def forward(self, x):
        return x


def test_preprocessing_repeats_resizes_and_normalises_inside_the_module():
    spec = _spec(mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 2.0))
    model = DeployableNetwork(_Probe(), spec)
    x = torch.rand(2, 1, 8, 8)
    seen = model(x)
    grey = torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
    expected = (
        grey.repeat(1, 3, 1, 1) - torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)
    ) / torch.tensor([0.5, 0.25, 2.0]).view(1, 3, 1, 1)
    assert seen.shape == (2, 3, 16, 16)
    torch.testing.assert_close(seen, expected)
    # same size and channels: only the normalisation
    same = DeployableNetwork(_Probe(), _spec(input_shape=(3, 16, 16)))
    torch.testing.assert_close(same(torch.ones(1, 3, 16, 16)), torch.full((1, 3, 16, 16), 1.5))
    # the normalisation is part of the state (and so of the saved folder and exported graph)
    assert set(model.state_dict()) == {"mean", "std"}


def test_save_and_load_round_trip_and_the_sha256_check(tmp_path):
    spec = _spec()
    torch.manual_seed(0)
    model = build_deployable(spec)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "train_log.jsonl").write_text("{}\n")  # other files of the folder stay
    save_trained_model(tmp_path / "m", model.state_dict(), spec)
    assert (tmp_path / "m" / "train_log.jsonl").read_text() == "{}\n"
    loaded, read = load_trained_model(tmp_path / "m")
    assert read == spec
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(loaded(x), model.eval()(x))

    weights = tmp_path / "m" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(TrainedModelError, match="sha256 .* differs"):
        load_state_dict(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    del meta["sha256"]
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(TrainedModelError, match="records no sha256"):
        load_state_dict(tmp_path / "m")
    with pytest.raises(TrainedModelError, match="no model.json"):
        load_state_dict(tmp_path / "nowhere")


def test_spec_refuses_inconsistent_values():
    with pytest.raises(TrainedModelError, match="class names"):
        _spec(num_classes=4)
    with pytest.raises(TrainedModelError, match="one value per network input channel"):
        _spec(mean=(0.5,))
    with pytest.raises(TrainedModelError, match="cannot be repeated"):
        _spec(input_shape=(2, 8, 8))
    with pytest.raises(TrainedModelError, match="std must be positive"):
        _spec(std=(0.5, 0.0, 0.5))


def test_every_image_space_builds_from_its_spec():
    from hwnas.core.spaces import create_space

    fbnet = create_space("fbnet")
    arch = str(fbnet.reference_archs()[0])
    model = build_deployable(_spec(space="fbnet", arch=arch, network={}, network_input=(3, 32, 32)))
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 3)
    genotype = (
        "darts:normal=sep_conv_3x3~0,sep_conv_3x3~1,sep_conv_3x3~0,skip_connect~1,"
        "skip_connect~0,sep_conv_3x3~1,skip_connect~0,dil_conv_3x3~2;reduce=max_pool_3x3~0,"
        "max_pool_3x3~1,skip_connect~2,max_pool_3x3~1,max_pool_3x3~0,skip_connect~2,"
        "skip_connect~2,max_pool_3x3~1"
    )
    darts = build_deployable(
        _spec(space="darts", arch=genotype, network={"channels": 4, "layers": 3})
    )
    assert darts(torch.rand(2, 1, 8, 8)).shape == (2, 3)
    with pytest.raises(TrainedModelError, match="cannot build nb201"):
        build_deployable(_spec(arch="|bogus~0|+|none~0|none~1|+|none~0|none~1|none~2|"))


def test_normalisation_is_in_the_exported_onnx_graph(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    spec = _spec()
    torch.manual_seed(0)
    model = build_deployable(spec).eval()
    path = tmp_path / "m.onnx"
    x = torch.rand(2, 1, 8, 8)
    torch.onnx.export(model, (x,), str(path), input_names=["x"], dynamo=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": x.numpy()})
    np.testing.assert_allclose(out, model(x).detach().numpy(), atol=1e-5)

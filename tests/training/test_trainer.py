"""hwnas train's library: the model folder, the log, the out-dir rules, divergence, schedules."""

import json

import pytest
import torch

from hwnas.core.deployable import load_trained_model
from hwnas.errors import DivergedError
from hwnas.jobs.train import OutDirError, TrainJob, train_model
from hwnas.methods.training.augment import augment_batch
from hwnas.methods.training.config import TrainConfig, augmentation_for
from hwnas.methods.training.loop import lr_factor, make_optimizer

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def _job(out, **config):
    settings = dict(epochs=2, batch_size=32, seed=0)
    settings.update(config)
    return TrainJob(
        out=out,
        arch=ARCH,
        data="digits",
        channels=4,
        cells=1,
        max_images=200,
        config=TrainConfig(**settings),
    )


def test_training_writes_a_model_folder_log_and_checkpoint(tmp_path):
    result = train_model(_job(tmp_path / "m"))
    assert (result.epochs, result.epochs_run, result.resumed_from) == (2, 2, 0)
    log = [
        json.loads(line) for line in (tmp_path / "m" / "train_log.jsonl").read_text().splitlines()
    ]
    assert [r["epoch"] for r in log] == [1, 2]
    assert log[1]["train_loss"] < log[0]["train_loss"]
    assert result.best_epoch == max(log, key=lambda r: (r["val_accuracy"], r["epoch"]))["epoch"]
    assert result.test_accuracy > 30  # 10 classes: chance is 10 %
    model, spec = load_trained_model(tmp_path / "m")
    assert spec.input_shape == (1, 8, 8) and spec.network_input == (3, 8, 8)
    assert spec.training["selection"] == "best validation accuracy"
    assert spec.training["augment"] == "none" and spec.training["lr"] == 0.1
    assert spec.data["spec"] == "digits" and len(spec.data["fingerprint"]) == 64
    meta = json.loads((tmp_path / "m" / "checkpoint" / "meta.json").read_text())
    assert meta["epoch"] == 2 and set(meta["sha256"]) >= {"weights.safetensors", "state.json"}

    # the same command again: restored from the finished checkpoint, nothing retrained
    again = train_model(_job(tmp_path / "m"))
    assert (again.resumed_from, again.epochs_run) == (2, 0)
    assert again.test_accuracy == result.test_accuracy


def test_out_dir_rules(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(OutDirError, match="holds other files"):
        train_model(_job(tmp_path / "other"))
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["notes.txt"]

    train_model(_job(tmp_path / "m", epochs=1))
    with pytest.raises(OutDirError, match=r"differs in config.*--force"):
        train_model(_job(tmp_path / "m", epochs=1, lr=0.05))
    forced = TrainJob(**{**vars(_job(tmp_path / "m", epochs=1, lr=0.05)), "force": True})
    result = train_model(forced)
    assert result.resumed_from == 0
    assert load_trained_model(tmp_path / "m")[1].training["lr"] == 0.05


def test_a_diverging_run_says_what_to_change(tmp_path):
    job = _job(tmp_path / "m", epochs=1, lr=1e12, warmup_epochs=0, grad_clip=None)
    with pytest.raises(DivergedError, match="lower --lr"):
        train_model(job)


def test_lr_schedule_by_hand():
    assert [lr_factor(s, 10, 2) for s in (0, 1)] == [0.5, 1.0]
    assert lr_factor(2, 10, 2) == 1.0
    assert lr_factor(6, 10, 2) == pytest.approx(0.5)  # half way through the cosine
    assert lr_factor(10, 10, 2) == pytest.approx(0.0)


def test_no_weight_decay_on_norms_and_biases():
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2)
    )
    optimizer = make_optimizer(model, TrainConfig())
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 5e-4 and plain["weight_decay"] == 0.0
    assert {p.ndim for p in decayed["params"]} == {2, 4} and {p.ndim for p in plain["params"]} == {
        1
    }
    assert optimizer.defaults["nesterov"]
    assert isinstance(make_optimizer(model, TrainConfig(optimizer="adamw")), torch.optim.AdamW)


def test_augmentation_choice_and_crops():
    config = TrainConfig()
    assert augmentation_for(config, "digits", (1, 8, 8)) == "none"
    assert augmentation_for(config, "cifar10", (3, 32, 32)) == "crop-flip"
    assert augmentation_for(config, "svhn", (3, 32, 32)) == "crop"
    assert augmentation_for(config, "npz", (3, 32, 32)) == "crop-flip"
    assert augmentation_for(config, "npz", (1, 28, 28)) == "none"
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6) + 1
    out = augment_batch(x, "crop", torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    for image, source in zip(out, x):  # each output is a window of the zero-padded image
        padded = torch.nn.functional.pad(source, (4, 4, 4, 4))
        windows = [padded[:, r : r + 6, c : c + 6] for r in range(9) for c in range(9)]
        assert any(torch.equal(image, w) for w in windows)
    a = augment_batch(x, "crop-flip", torch.Generator().manual_seed(3))
    b = augment_batch(x, "crop-flip", torch.Generator().manual_seed(3))
    assert torch.equal(a, b)

"""MetaPredictor: the scikit-learn contract, numpy forward = torch forward, adaptation."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from predictors.embedding import DeviceEmbedding, EmbeddingError
from predictors.meta import MetaPredictor, choose_adapt_steps


def toy_rows(n_devices=3, n_archs=60, features=6, seed=0):
    """Rows [features | embedding] where a device's target is its own linear function."""
    rng = np.random.default_rng(seed)
    F = rng.random((n_archs, features)).astype(np.float32)
    X, y = [], []
    for _ in range(n_devices):
        weights = rng.random(features)
        z = np.sort(rng.random(4)).astype(np.float32)
        X.append(np.concatenate([F, np.tile(z, (n_archs, 1))], axis=1))
        y.append(F @ weights)
    return np.concatenate(X), np.concatenate(y)


SMALL = dict(
    embedding_dim=4, hidden=16, epochs=150, batch_size=32, learning_rate=1e-2, random_state=0
)


def test_fit_predict_and_sklearn_contract():
    X, y = toy_rows()
    model = MetaPredictor(**SMALL)
    with pytest.raises(NotFittedError):
        model.predict(X)
    assert model.fit(X, y) is model
    assert clone(model).get_params() == model.get_params()
    assert not hasattr(clone(model), "members_")
    first_loss = MetaPredictor(**{**SMALL, "epochs": 1}).fit(X, y).train_loss_[0]
    assert model.train_loss_[0] < first_loss  # training reduces the error
    prediction = model.predict(X)
    assert prediction.shape == (len(X),) and np.corrcoef(prediction, y)[0, 1] > 0.9


def test_numpy_forward_equals_torch_forward():
    import torch

    from predictors.meta import _load, _network

    X, y = toy_rows()
    model = MetaPredictor(**{**SMALL, "n_members": 2}).fit(X, y)
    torch_predictions = []
    for member in model.members_:
        net = _network(6, 4, 16)
        _load(net, member)
        with torch.no_grad():
            torch_predictions.append(net(torch.from_numpy(X[:, :6]), torch.from_numpy(X[:, 6:])))
    expected = torch.stack(torch_predictions).mean(0).numpy()
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-6)


def test_weights_round_trip():
    X, y = toy_rows()
    model = MetaPredictor(**{**SMALL, "n_members": 2}).fit(X, y)
    copy = MetaPredictor(**{**SMALL, "n_members": 2}).load_weights(model.weights(), X.shape[1])
    np.testing.assert_array_equal(copy.predict(X), model.predict(X))
    broken = dict(model.weights())
    broken["member1.head.2.weight"] = np.zeros((1, 3), np.float32)
    with pytest.raises(ValueError, match="member1.head.2.weight"):
        MetaPredictor(**{**SMALL, "n_members": 2}).load_weights(broken, X.shape[1])
    del broken["member1.head.2.weight"]
    with pytest.raises(ValueError, match="lack"):
        MetaPredictor(**{**SMALL, "n_members": 2}).load_weights(broken, X.shape[1])


def test_adapt_zero_shot_keeps_weights_and_fine_tuning_fits_the_device():
    X, y = toy_rows()
    model = MetaPredictor(**SMALL).fit(X, y)
    X_new, y_new = toy_rows(n_devices=1, seed=7)
    same = model.adapt(X_new[:20], y_new[:20])
    np.testing.assert_array_equal(same.predict(X_new), model.predict(X_new))
    tuned = model.set_params(adapt_steps=200, adapt_learning_rate=3e-3).adapt(
        X_new[:20], y_new[:20]
    )
    error = lambda m: np.mean((m.predict(X_new[:20]) - y_new[:20]) ** 2)  # noqa: E731
    assert error(tuned) < error(same)
    np.testing.assert_array_equal(model.predict(X), MetaPredictor(**SMALL).fit(X, y).predict(X))


def test_choose_adapt_steps_needs_samples_beyond_the_references():
    X, y = toy_rows()
    model = MetaPredictor(**SMALL).fit(X, y)
    steps, evidence = choose_adapt_steps(model, X[:10], y[:10], [], 50)
    assert steps == 0 and "need 4" in evidence["reason"]
    steps, evidence = choose_adapt_steps(model, X[:30], y[:30], np.arange(10, 30), 50)
    assert steps in (0, 50) and evidence["held_out"] == 10
    assert (steps == 50) == (evidence["fine_tuned_mse"] < evidence["zero_shot_mse"])


def test_bad_parameters_and_shapes():
    X, y = toy_rows()
    with pytest.raises(ValueError, match="hidden"):
        MetaPredictor(**{**SMALL, "hidden": 0}).fit(X, y)
    with pytest.raises(ValueError, match="embedding"):
        MetaPredictor(**{**SMALL, "embedding_dim": 10}).fit(X, y)


def test_device_embedding():
    embedding = DeviceEmbedding.from_reference([2.0, 4.0, 8.0])
    assert embedding.values == pytest.approx((0.0, 0.5, 1.0))
    values = np.array([1.0, 3.0, 16.0])
    np.testing.assert_allclose(embedding.denormalise(embedding.normalise(values)), values)
    assert DeviceEmbedding.from_dict(embedding.to_dict()) == embedding
    with pytest.raises(EmbeddingError, match="reference 1 is nan"):
        DeviceEmbedding.from_reference([1.0, float("nan"), 2.0])
    with pytest.raises(EmbeddingError, match="reference 0 is -1"):
        DeviceEmbedding.from_reference([-1.0, 2.0])
    with pytest.raises(EmbeddingError, match="all equal"):
        DeviceEmbedding.from_reference([3.0, 3.0, 3.0])

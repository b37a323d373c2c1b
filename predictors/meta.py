"""MetaPredictor: one network that predicts latency (or energy) on any device from its embedding.

The network reads an architecture's features and a device embedding (see
`predictors.embedding`) and returns the architecture's measurement on the embedding's scale.
Trained on many devices at once, it knows a new device from the device's reference
measurements alone (zero-shot), and `adapt` fine-tunes it on the few samples measured there.

Shape: an architecture tower ``a = MLP(x)``, a device tower giving a FiLM modulation
``(g, b) = MLP(z)``, and a head ``y = MLP(a * (1 + g) + b)`` (Perez et al., AAAI 2018). An
ensemble of ``n_members`` such networks from different seeds is averaged.

Fitted weights are numpy arrays and `predict` runs in numpy (`predictors.film`); torch is
imported to `fit` and `adapt` only.
"""

from __future__ import annotations

import copy

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from predictors.film import ensemble_forward, flatten_members, layer_shapes, split_members


class MetaPredictor(RegressorMixin, BaseEstimator):
    """Device-conditioned regressor on ``[architecture features | device embedding]`` rows.

    ``fit(X, y)``: ``X`` is (n, F + embedding_dim), each row an architecture's F features
    followed by its device's embedding; ``y`` is the measurement on that device's embedding
    scale (`DeviceEmbedding.normalise`).

    Args:
        embedding_dim: Length of the device embedding (the number of reference architectures).
        hidden: Width of every hidden layer.
        epochs: Passes over the training rows.
        batch_size: Rows per optimisation step.
        learning_rate: Peak learning rate of the one-cycle schedule (AdamW).
        weight_decay: AdamW weight decay.
        n_members: Networks in the ensemble, each from its own seed.
        adapt_steps: Full-batch Adam steps `adapt` takes on a new device's samples; 0 keeps the
            trained weights (zero-shot: the embedding alone describes the device).
        adapt_learning_rate: Adam learning rate of `adapt`.
        random_state: Seed of initialisation and batch order.

    Attributes:
        members_: Per ensemble member, its weights by layer name (numpy arrays).
        n_features_in_: F + embedding_dim.
        train_loss_: Final-epoch mean squared error of each member on the training rows.
    """

    def __init__(
        self,
        embedding_dim: int = 10,
        hidden: int = 256,
        epochs: int = 15,
        batch_size: int = 1024,
        learning_rate: float = 3e-3,
        weight_decay: float = 1e-4,
        n_members: int = 1,
        adapt_steps: int = 0,
        adapt_learning_rate: float = 3e-4,
        random_state: int = 0,
    ) -> None:
        self.embedding_dim = embedding_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.n_members = n_members
        self.adapt_steps = adapt_steps
        self.adapt_learning_rate = adapt_learning_rate
        self.random_state = random_state

    # -- training -----------------------------------------------------------------------------

    def fit(self, X, y) -> MetaPredictor:
        X, y = validate_data(self, X, y, dtype=np.float32, y_numeric=True)
        self._check_params(X)
        import torch

        xs, zs, ys = self._tensors(X, y)
        self.members_ = []
        self.train_loss_ = []
        for member in range(self.n_members):
            torch.manual_seed(self.random_state + 1000 * member)
            net = _network(X.shape[1] - self.embedding_dim, self.embedding_dim, self.hidden)
            loss = self._train(net, xs, zs, ys)
            self.members_.append(_to_numpy(net))
            self.train_loss_.append(loss)
        return self

    def adapt(self, X, y) -> MetaPredictor:
        """A copy fine-tuned on one device's samples (rows as in `fit`); self is unchanged.

        With ``adapt_steps == 0`` the copy has the same weights: the embedding in ``X`` is all
        that tells the device apart.
        """
        check_is_fitted(self, "members_")
        X, y = validate_data(self, X, y, dtype=np.float32, y_numeric=True, reset=False)
        adapted = copy.deepcopy(self)
        if self.adapt_steps == 0:
            return adapted
        import torch

        xs, zs, ys = self._tensors(X, y)
        adapted.members_ = []
        for weights in self.members_:
            net = _network(X.shape[1] - self.embedding_dim, self.embedding_dim, self.hidden)
            _load(net, weights)
            optimiser = torch.optim.Adam(net.parameters(), lr=self.adapt_learning_rate)
            for _ in range(self.adapt_steps):
                loss = torch.nn.functional.mse_loss(net(xs, zs), ys)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            adapted.members_.append(_to_numpy(net))
        return adapted

    def predict(self, X) -> np.ndarray:
        """Predictions on each row's device scale, (n,), averaged over the ensemble."""
        check_is_fitted(self, "members_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        x, z = X[:, : -self.embedding_dim], X[:, -self.embedding_dim :]
        return ensemble_forward(self.members_, x, z)

    # -- weights on disk ----------------------------------------------------------------------

    def weights(self) -> dict[str, np.ndarray]:
        """All fitted weights, keyed ``member<i>.<layer>.<weight|bias>`` (for safetensors)."""
        check_is_fitted(self, "members_")
        return flatten_members(self.members_)

    def load_weights(self, weights: dict[str, np.ndarray], n_features_in: int) -> MetaPredictor:
        """Set the fitted state from `weights` (as returned by `weights`); returns self.

        Raises:
            ValueError: If a layer is missing or has the wrong shape for these parameters.
        """
        shapes = layer_shapes(n_features_in - self.embedding_dim, self.embedding_dim, self.hidden)
        self.members_ = split_members(weights, self.n_members, shapes)
        self.n_features_in_ = n_features_in
        self.train_loss_ = []
        return self

    # -- helpers ------------------------------------------------------------------------------

    def _check_params(self, X: np.ndarray) -> None:
        for name in ("embedding_dim", "hidden", "epochs", "batch_size", "n_members"):
            value = getattr(self, name)
            if not (isinstance(value, int | np.integer) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.adapt_steps, int | np.integer) and self.adapt_steps >= 0):
            raise ValueError(
                f"adapt_steps must be a non-negative integer, got {self.adapt_steps!r}"
            )
        if X.shape[1] <= self.embedding_dim:
            raise ValueError(
                f"X has {X.shape[1]} columns: expected architecture features followed by "
                f"{self.embedding_dim} embedding values"
            )

    def _tensors(self, X: np.ndarray, y: np.ndarray):
        import torch

        d = self.embedding_dim
        return (
            torch.from_numpy(np.ascontiguousarray(X[:, :-d])),
            torch.from_numpy(np.ascontiguousarray(X[:, -d:])),
            torch.from_numpy(np.asarray(y, dtype=np.float32)),
        )

    def _train(self, net, xs, zs, ys) -> float:
        import torch

        n = len(ys)
        batch = min(self.batch_size, n)
        per_epoch = max(1, n // batch)
        optimiser = torch.optim.AdamW(
            net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimiser, self.learning_rate, total_steps=self.epochs * per_epoch
        )
        generator = torch.Generator().manual_seed(self.random_state)
        epoch_loss = float("nan")
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=generator)
            total = 0.0
            for step in range(per_epoch):
                rows = order[step * batch : (step + 1) * batch]
                loss = torch.nn.functional.mse_loss(net(xs[rows], zs[rows]), ys[rows])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
                total += loss.item()
            epoch_loss = total / per_epoch
        return epoch_loss


def _network(features: int, embedding: int, hidden: int):
    import torch
    from torch import nn

    class FiLMNetwork(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.arch = nn.Sequential(
                nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
            )
            self.device = nn.Sequential(
                nn.Linear(embedding, hidden), nn.ReLU(), nn.Linear(hidden, 2 * hidden)
            )
            self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

        def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
            gain, shift = self.device(z).chunk(2, dim=-1)
            return self.head(self.arch(x) * (1 + gain) + shift).squeeze(-1)

    return FiLMNetwork()


def _to_numpy(net) -> dict[str, np.ndarray]:
    return {name: t.detach().cpu().numpy().copy() for name, t in net.state_dict().items()}


def _load(net, weights: dict[str, np.ndarray]) -> None:
    import torch

    net.load_state_dict({name: torch.from_numpy(array.copy()) for name, array in weights.items()})


def choose_adapt_steps(
    estimator: MetaPredictor, X, y, holdout_candidates, steps: int, seed: int = 0
) -> tuple[int, dict]:
    """Fine-tune or not, by measurement on the device's own samples.

    Half of ``holdout_candidates`` (row indices of samples beyond the reference
    architectures) is held out; the zero-shot model and one fine-tuned for `steps` on the
    other rows are scored by mean squared error on it. Fewer than 4 candidates: zero-shot,
    since nothing can be measured.

    Returns:
        The chosen number of steps (`steps` or 0) and the evidence: both errors, held-out count.
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.float64)
    candidates = np.asarray(holdout_candidates, dtype=np.int64)
    if steps == 0 or len(candidates) < 4:
        return 0, {"reason": f"{len(candidates)} samples beyond the references (need 4)"}
    held = np.random.default_rng(seed).permutation(candidates)[: len(candidates) // 2]
    train = np.setdiff1d(np.arange(len(y)), held)
    zero_shot = float(np.mean((estimator.predict(X[held]) - y[held]) ** 2))
    tuned = copy.deepcopy(estimator).set_params(adapt_steps=steps).adapt(X[train], y[train])
    fine_tuned = float(np.mean((tuned.predict(X[held]) - y[held]) ** 2))
    chosen = steps if fine_tuned < zero_shot else 0
    return chosen, {"held_out": len(held), "zero_shot_mse": zero_shot, "fine_tuned_mse": fine_tuned}

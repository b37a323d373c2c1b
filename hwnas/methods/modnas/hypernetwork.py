"""The MetaHypernetwork H(r, d): a preference vector and a device embedding to cell logits.

An MLP on ``[r, d]`` with the device's FiLM modulation of the hidden layer (as in the
MetaPredictor, so the device changes how preferences map to cells, not only an offset), and a
(6, 5) output of unnormalised log-probabilities, one row per NAS-Bench-201 edge. The output
is ``sum_m r_m L_m``, one logit matrix ``L_m`` per objective mixed by the preference, so a
preference that weighs one objective alone reads that objective's cells directly; it is bounded
by ``bound * tanh(x / bound)``: logits that grow without limit saturate the softmax, which then
passes no gradient, and the search would freeze on the first cells it favours. Training runs
in torch; `hwnas.methods.modnas.model.hypernetwork_logits` answers from the saved weights without
torch, so `hwnas generate` starts in well under a second.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hwnas.methods.modnas.preferences import CELL_SHAPE, LOG_FLOOR


def preference_features(preference: torch.Tensor) -> torch.Tensor:
    """``[r, log(r + 0.001)]``: the log resolves small weights, where the best cell changes fast."""
    return torch.cat([preference, torch.log(preference + LOG_FLOOR)], dim=-1)


class MetaHypernetwork(nn.Module):
    """Maps (B, M) preferences and (B, R) device embeddings to (B, 6, 5) cell logits.

    Args:
        n_objectives: M, the length of a preference vector.
        embedding_dim: R, the length of a device embedding.
        hidden: Width of the hidden layers.
        bound: Largest magnitude of a logit.
    """

    def __init__(
        self, n_objectives: int, embedding_dim: int, hidden: int = 128, bound: float = 2.0
    ) -> None:
        super().__init__()
        if min(n_objectives, embedding_dim, hidden) < 1:
            raise ValueError(
                "n_objectives, embedding_dim and hidden must be positive, got "
                f"{n_objectives}, {embedding_dim}, {hidden}"
            )
        if not bound > 0:
            raise ValueError(f"bound must be positive, got {bound}")
        self.n_objectives, self.embedding_dim, self.hidden = n_objectives, embedding_dim, hidden
        self.bound = float(bound)
        self.preference = nn.Sequential(
            nn.Linear(2 * n_objectives, hidden), nn.ReLU(), nn.Linear(hidden, hidden)
        )
        self.device = nn.Sequential(
            nn.Linear(embedding_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * hidden)
        )
        self.head = nn.Sequential(
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_objectives * int(np.prod(CELL_SHAPE))),
        )

    def forward(self, preference: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        gain, shift = self.device(embedding).chunk(2, dim=-1)
        h = self.preference(preference_features(preference))
        out = self.head(h * (1 + gain) + shift)
        per_objective = out.reshape(-1, self.n_objectives, *CELL_SHAPE)
        logits = torch.einsum("bm,bmek->bek", preference, per_objective)
        return self.bound * torch.tanh(logits / self.bound)

    def numpy_weights(self) -> dict[str, np.ndarray]:
        """The weights as float32 arrays, keyed as in ``state_dict`` (for safetensors)."""
        return {k: v.detach().cpu().numpy().copy() for k, v in self.state_dict().items()}

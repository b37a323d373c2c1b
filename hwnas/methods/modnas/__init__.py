"""MODNAS (Sukthanker, Zela et al., ICLR 2025): one search for every device and preference.

A MetaHypernetwork maps a preference vector over the objectives and a device embedding to an
architecture distribution; an Architect samples differentiable discrete cells from it; the
accuracy objective (a surrogate of the NAS-Bench-201 table, or a weight-sharing supernet) and
the frozen MetaPredictor score them; per-device gradients are combined by multiple gradient
descent. Modules: `objectives`, `hypernetwork`, `architect`, `train`, `pareto`, `mgd`,
`baselines`, `evaluate`, `model` (saved models) and `generate` (answering a latency budget).
"""

SPACE = "nb201"
"""The one search space MODNAS searches: its hypernetwork emits NAS-Bench-201 cells."""

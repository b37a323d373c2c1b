"""Linear RNNs (diagonal and DeltaNet) that track state: layers, scans, tasks, training, export.

Importing this package imports nothing heavy; the space (`hwnas.core.spaces.lrnn`) is registered as
``"lrnn"`` with `hwnas.core.spaces`, the torch modules live in `hwnas.core.spaces.lrnn_layers`.
"""

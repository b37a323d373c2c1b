"""Linear RNNs (diagonal and DeltaNet) that track state: layers, scans, tasks, training, export.

Importing this package imports nothing heavy; the space (`hwnas.lrnn.space`) is registered as
``"lrnn"`` with `hwnas.spaces`, the torch modules live in `hwnas.lrnn.layers`.
"""

"""Core layer: search spaces behind one contract, tables, datasets and export primitives.

Imports only `hwnas.errors` and the packages below hwnas (`devices`, `profilers`,
`predictors`); never a method or a job (`tests/test_layers.py` reads every import).
"""

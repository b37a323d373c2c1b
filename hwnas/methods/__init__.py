"""Methods layer: DARTS, MODNAS, NES, LRNN training and the latency predictors they share.

Imports the core layer and the packages below hwnas; never a job or the CLI
(`tests/test_layers.py` reads every import).
"""

"""DARTS (Liu et al., ICLR 2019) with the RobustDARTS cures (Zela et al., ICLR 2020).

Modules: `ops` (candidate operations), `spaces` (DARTS, S1-S4 cell spaces), `genotype` (the
discrete cell value and its derivation), `search_model` (the weight-sharing cell network),
`architect` (first/second-order architecture steps), `hessian` (dominant eigenvalue of the
architecture Hessian), `robust` (DARTS-ES / DARTS-ADA decisions), `search` (the search job),
`network` (training a genotype from scratch), `cli` (`hwnas darts ...`).

Importing this package imports no torch; the modules that need it import it themselves.
"""

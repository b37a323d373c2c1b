"""DARTS (Liu et al., ICLR 2019) with the RobustDARTS cures (Zela et al., ICLR 2020).

The spaces themselves (DARTS, S1-S4: operations, genotypes, the evaluation network) are
registered search spaces in `hwnas.core.spaces` (`darts`, `darts_ops`, `darts_genotype`,
`darts_net`, `darts_space`). Modules here: `search_model` (the weight-sharing cell network),
`architect` (first/second-order architecture steps), `hessian` (dominant eigenvalue of the
architecture Hessian), `robust` (DARTS-ES / DARTS-ADA decisions), `search` (the search),
`network` (training a genotype from scratch); the command is `hwnas.cli.darts`.

Importing this package imports no torch; the modules that need it import it themselves.
"""

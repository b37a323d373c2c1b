"""`python -m hwnas` (and `torchrun -m hwnas`): runs `hwnas.cli` as the `hwnas` command."""

import runpy

runpy.run_module("hwnas.cli", run_name="__main__", alter_sys=True)

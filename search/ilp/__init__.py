"""Integer and linear programs (PuLP; HiGHS when installed, else CBC), one module per problem:

* `expert_placement` - MoETuner's two-stage expert placement (token balance, then cross-device traffic)
* `nanoflow`         - NanoFlow's nano-batch split and schedule (stage I) and resource shares (stage II)
* `offload`          - FlexGen's offload fractions (a linear program per block size)
* `pools`            - prefill/decode devices and replicas serving a rate (DistServe goodput per device)
* `prepack`          - Prepacking's bin packing of prompts into prefill batches

Each module's docstring states its variables, objective and constraints.
"""

from perfmodel.search.ilp._solver import SOLVERS, Solve, solve

__all__ = ["SOLVERS", "Solve", "solve"]

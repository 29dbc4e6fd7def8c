"""Wall time of `perfmodel reproduce` over every seed (target < 60 s on the project's 2-core machine).

Run: python benchmarks/reproduce_all.py  (prints each entry's time and the total)
"""

from __future__ import annotations

import time

from perfmodel.reproduce import SEEDS, reproduce
from perfmodel.search.moetuner import register_search_seeds

TARGET_S = 60.0  # issue 13: all entries in under a minute


def main() -> None:
    register_search_seeds()  # as `perfmodel reproduce` does: MoETuner runs the search layer's ILP
    total = time.perf_counter()
    for name in SEEDS:
        t = time.perf_counter()
        e = reproduce([name])[0]
        print(f"{name:18s} {e.status:12s} {time.perf_counter() - t:6.2f} s")
    wall = time.perf_counter() - total
    print(f"\n{len(SEEDS)} seeds in {wall:.1f} s (target < {TARGET_S:.0f} s)")


if __name__ == "__main__":
    main()

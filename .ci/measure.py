"""Run a command, then print its wall time and peak memory (issue 15: the suite's budget is
< 10 min and < 4 GB on a 2-core CI machine). Peak memory is the largest resident set of any
process the command ran (ru_maxrss over waited-for children, grandchildren included)."""

import resource
import subprocess
import sys
import time

t0 = time.monotonic()
rc = subprocess.call(sys.argv[1:])
wall = time.monotonic() - t0
peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
print(f"suite budget: wall {wall:.0f} s (limit 600 s), peak RSS {peak_mib:.0f} MiB (limit 4096 MiB), "
      f"exit {rc}", flush=True)
sys.exit(rc)

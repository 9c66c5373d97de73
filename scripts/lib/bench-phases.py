"""Prints where the time of a command goes, from the `-vv` logs of several runs of it.

Usage: python3 scripts/lib/bench-phases.py LOG...
Each LOG is the stderr of one `fluxloop ... -vv` run. fluxloop logs the end of each phase as
`phase: WHAT` with `at_ms`, the milliseconds since its `run` began; this prints, per phase, the
median of at_ms over the runs and the median time since the phase before.
"""

import re
import statistics
import sys

PHASE = re.compile(r'at_ms=([0-9.]+) .*?phase: (.*)$|phase: (.*?) at_ms=([0-9.]+)')

runs = []
for path in sys.argv[1:]:
    marks = []
    with open(path, encoding="utf-8") as log:
        for line in log:
            found = PHASE.search(line.rstrip("\n"))
            if found:
                if found.group(1) is not None:
                    marks.append((found.group(2), float(found.group(1))))
                else:
                    marks.append((found.group(3), float(found.group(4))))
    runs.append(marks)

order = [name for name, _ in runs[0]]
print("| phase (ends when) | at (median) | took (median) |")
print("|---|---:|---:|")
for i, name in enumerate(order):
    at = [dict(r)[name] for r in runs if name in dict(r)]
    took = []
    for r in runs:
        marks = dict(r)
        if name in marks:
            before = marks.get(order[i - 1], 0.0) if i > 0 else 0.0
            took.append(marks[name] - before)
    print(f"| {name} | {statistics.median(at):.2f} ms | {statistics.median(took):.2f} ms |")

"""Prints scripts/bench's table: the median of every command, then issue 12's ratios and goals.

Usage: python3 scripts/lib/bench-table.py RESULTS-DIR BINARY-SIZE-BYTES
RESULTS-DIR holds hyperfine's JSON exports (http.json, https.json, logout.json), the 1-minute
load average at the start and end of each group (http.load, ...) and rss-kib.
"""

import json
import pathlib
import sys

results = pathlib.Path(sys.argv[1])
binary_size = int(sys.argv[2])

median = {}
load = {}
for group in ("http", "https", "logout"):
    path = results / f"{group}.json"
    if path.exists():
        loads = (results / f"{group}.load").read_text().split()
        for run in json.loads(path.read_text())["results"]:
            median[run["command"]] = run["median"]
            load[run["command"]] = " → ".join(loads)
rss_kib = int((results / "rss-kib").read_text())


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


print("| command | median | load average (1 min), group start → end |")
print("|---|---:|---:|")
for name, seconds in median.items():
    print(f"| `{name}` | {ms(seconds)} | {load[name]} |")
print(f"| peak RSS of `fluxloop auth status` | {rss_kib / 1024:.1f} MiB | |")
print(f"| release binary | {binary_size / 1024 / 1024:.1f} MiB | |")
print()

# (what, numerator, denominator, goal, whether the goal is an upper bound)
RATIOS = [
    ("status / (secret-tool + curl)", "fluxloop auth status",
     "floor: secret-tool lookup + curl", 0.4, True),
    ("whoami / (secret-tool + curl)", "fluxloop auth whoami",
     "floor: secret-tool lookup + curl", 0.4, True),
    ("Python CLI status / status", "python: fluxloop auth status (0.4.0)",
     "fluxloop auth status", 50, False),
    ("Python CLI status / whoami", "python: fluxloop auth status (0.4.0)",
     "fluxloop auth whoami", 50, False),
    ("https: status / (secret-tool + curl --cacert)", "https: fluxloop auth status",
     "https floor: secret-tool lookup + curl --cacert", 0.4, True),
    ("https: whoami / (secret-tool + curl --cacert)", "https: fluxloop auth whoami",
     "https floor: secret-tool lookup + curl --cacert", 0.4, True),
    ("FLUXLOOP_API_KEY status / --help", "FLUXLOOP_API_KEY=… fluxloop auth status",
     "fluxloop --help", 2, True),
    ("status, 200 profiles / 1 profile", "fluxloop auth status (200 profiles)",
     "fluxloop auth status", 1.1, True),
    ("list of 200 profiles / --help", "fluxloop auth list (200 profiles)",
     "fluxloop --help", 2, True),
    ("exec -- true / secret-tool lookup", "fluxloop exec -- true", "secret-tool lookup", 1.5,
     True),
]

print("| ratio | measured | goal | met |")
print("|---|---:|---:|:---:|")
for what, top, bottom, goal, upper in RATIOS:
    if top not in median or bottom not in median:
        continue
    value = median[top] / median[bottom]
    met = value <= goal if upper else value >= goal
    bound = "≤" if upper else "≥"
    print(f"| {what} | {value:.2f}× | {bound} {goal}× | {'yes' if met else 'NO'} |")
logout = median.get("fluxloop auth logout --all (200 profiles)")
if logout is not None:
    print(f"| logout --all of 200 profiles | {logout:.2f} s | ≤ 0.5 s | "
          f"{'yes' if logout <= 0.5 else 'NO'} |")
print(f"| peak RSS of status | {rss_kib / 1024:.1f} MiB | ≤ 8 MiB | "
      f"{'yes' if rss_kib <= 8 * 1024 else 'NO'} |")

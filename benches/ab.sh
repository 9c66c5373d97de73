#!/usr/bin/env bash
# A/B of fluxloop release binaries, runs interleaved: for each command, every round runs each
# binary once, in a random order, so that a machine shared with other work slows all alike.
# One private gnome-keyring and one stand-in over HTTP (and one over HTTPS, its CA trusted through
# SSL_CERT_FILE, for the `https:` rows) serve all. Prints, per command, the median
# wall time, user + system CPU (wait4) and peak RSS (GNU time's %M, 5 runs) of each binary, each
# one's difference from A (the first), and the load average at the command's start and end.
# Usage: ROUNDS=30 benches/ab.sh A-BINARY B-BINARY [C-BINARY...]   (logout --all: ROUNDS/4;
#        LOGOUT=0 leaves it out, as its set-up of 200 entries per run takes most of the time)
# Needs the stand-in built (`cargo build --release -p fluxloop-stand-in`), secret-tool,
# gnome-keyring-daemon, dbus-daemon and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 2 ]] || { echo "usage: ROUNDS=N benches/ab.sh A-BINARY B-BINARY [C-BINARY...]" >&2; exit 2; }
a="$(realpath "$1")"
binaries="$(for bin in "$@"; do realpath "$bin"; done)"
rounds="${ROUNDS:-30}"
stand_in="$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)/fluxloop-stand-in"

work="$(mktemp -d "${TMPDIR:-/tmp}/fluxloop-ab.XXXXXX")"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$stand_in" >"$work/url" 2>/dev/null &
pids+=($!)
# And over HTTPS, with a CA made for the run, trusted through SSL_CERT_FILE.
"$stand_in" --tls-ca "$work/ca.pem" >"$work/https-url" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [[ -s "$work/url" && -s "$work/https-url" ]] && break; sleep 0.05; done
url="$(head -n 1 "$work/url")"
https_url="$(head -n 1 "$work/https-url")"

source scripts/lib/private-secret-service.sh
unset DBUS_SESSION_BUS_ADDRESS
start_private_secret_service "$work/keyring"

unset FLUXLOOP_API_KEY FLUXLOOP_PROFILE FLUXLOOP_HOME FLUXLOOP_STORAGE FLUXLOOP_EXEC_PROFILE \
    FLUXLOOP_API_URL FLUXLOOP_TIMEOUT FLUXLOOP_KEYRING_SERVICE SSL_CERT_FILE SSL_CERT_DIR \
    RUST_LOG HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
export NO_COLOR=1 AB_LOGOUT="${LOGOUT:-1}" AB_WORK="$work" AB_URL="$url" AB_BINARIES="$binaries" AB_ROUNDS="$rounds"
export AB_HTTPS_URL="$https_url"
key="flux_dev_abc123def456ghi789jkl012mno34"
export AB_KEY="$key"

# Homes: one profile, and 200 (default, p001..p199), logged in with A.
mkdir -p "$work/one" "$work/many"
printf '%s\n' "$key" | env HOME="$work/one" FLUXLOOP_KEYRING_SERVICE=fluxloop-ab-1 \
    FLUXLOOP_API_URL="$url" "$a" auth login >/dev/null 2>&1
for name in default $(seq -f 'p%03g' 1 199); do
    printf '%s\n' "$key" | env HOME="$work/many" FLUXLOOP_KEYRING_SERVICE=fluxloop-ab-200 \
        FLUXLOOP_API_URL="$url" "$a" auth login --profile "$name" >/dev/null 2>&1
done
# logout --all empties a copy of the 200-profile home: each run gets its own copy back, and the
# keychain entries that A's login wrote (same attributes and marker), re-made by A.
cp -a "$work/many" "$work/many.saved"

python3 - <<'EOF'
import os, random, shutil, statistics, subprocess, time

work, url, key = os.environ["AB_WORK"], os.environ["AB_URL"], os.environ["AB_KEY"]
sides = {chr(ord("A") + i): path
         for i, path in enumerate(os.environ["AB_BINARIES"].splitlines())}
rounds = int(os.environ["AB_ROUNDS"])
base = {k: v for k, v in os.environ.items() if not k.startswith("AB_")}

def env(home, service, **extra):
    e = dict(base, HOME=f"{work}/{home}", FLUXLOOP_KEYRING_SERVICE=service, FLUXLOOP_API_URL=url)
    e.update(extra)
    return e

def peak_rss(argv, e):
    """Peak RSS KiB of one run, from GNU time (a forked Python's own pages would count in
    wait4's figure for a child of this process)."""
    out = f"{work}/rss"
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out] + argv, env=e, check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return int(open(out).read().split()[-1])

def run(argv, e):
    """Wall ms and user+system CPU ms of one run (wait4: this child's own)."""
    started = time.perf_counter()
    p = subprocess.Popen(argv, env=e, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = (time.perf_counter() - started) * 1000
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if p.returncode != 0:
        raise SystemExit(f"{argv} failed ({p.returncode}): {err}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000

def restore_many():
    subprocess.run(["rm", "-rf", f"{work}/many-x"], check=True)
    shutil.copytree(f"{work}/many.saved", f"{work}/many-x", symlinks=True)
    e = env("many-x", "fluxloop-ab-200")
    # Ensure every item is there (a previous logout --all removed them): A's own login writes
    # the item with its marker; the file already lists the profiles.
    names = ["default"] + [f"p{i:03d}" for i in range(1, 200)]
    for name in names:
        subprocess.run([sides["A"], "auth", "login", "--profile", name], env=e,
                       input=(key + "\n").encode(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)

cases = [
    ("--help", ["--help"], env("one", "fluxloop-ab-1"), rounds, None),
    ("auth status", ["auth", "status"], env("one", "fluxloop-ab-1"), rounds, None),
    ("auth whoami", ["auth", "whoami"], env("one", "fluxloop-ab-1"), rounds, None),
    ("exec -- true", ["exec", "--", "true"], env("one", "fluxloop-ab-1"), rounds, None),
    ("FLUXLOOP_API_KEY=... auth status", ["auth", "status"],
     env("one", "fluxloop-ab-1", FLUXLOOP_API_KEY=key), rounds, None),
    ("https: auth status", ["auth", "status"],
     env("one", "fluxloop-ab-1", FLUXLOOP_API_URL=os.environ["AB_HTTPS_URL"],
         SSL_CERT_FILE=f"{work}/ca.pem"), rounds, None),
    ("https: auth whoami", ["auth", "whoami"],
     env("one", "fluxloop-ab-1", FLUXLOOP_API_URL=os.environ["AB_HTTPS_URL"],
         SSL_CERT_FILE=f"{work}/ca.pem"), rounds, None),
    ("auth status (200 profiles)", ["auth", "status"], env("many", "fluxloop-ab-200"), rounds, None),
    ("auth list (200 profiles)", ["auth", "list"], env("many", "fluxloop-ab-200"), rounds, None),
    ("auth logout --all (200 profiles)", ["auth", "logout", "--all"],
     env("many-x", "fluxloop-ab-200"), max(3, rounds // 4), restore_many),
]

if os.environ["AB_LOGOUT"] == "0":
    cases = [c for c in cases if c[4] is None]

def load():
    return open("/proc/loadavg").read().split()[0]

for name, path in sides.items():
    print(f"{name} = {path}")
print()
print("| command | " + " | ".join(f"{s} median" for s in sides)
      + " | " + " | ".join(f"{s} - A" for s in list(sides)[1:])
      + " | " + " | ".join(f"{s} CPU" for s in sides)
      + " | " + " | ".join(f"{s} peak RSS" for s in sides) + " | runs | load start -> end |")
print("|---|" + "---:|" * (4 * len(sides) - 1) + "---:|---:|")
for name, args, e, n, prepare in cases:
    for side in sides.values():  # warm-up, not counted
        if prepare: prepare()
        run([side] + args, e)
    got = {s: [] for s in sides}
    start_load = load()
    for _ in range(n):
        order = list(sides)
        random.shuffle(order)
        for side in order:
            if prepare: prepare()
            got[side].append(run([sides[side]] + args, e))
    end_load = load()
    med = {s: [statistics.median(x[i] for x in got[s]) for i in range(2)] for s in got}
    for side in sides:  # the median of 5 runs each (1 with a set-up), under GNU time
        rss = []
        for _ in range(1 if prepare else 5):
            if prepare: prepare()
            rss.append(peak_rss([sides[side]] + args, e))
        med[side].append(statistics.median(rss))
    cells = [f"{med[s][0]:.1f} ms" for s in sides]
    cells += [f"{med[s][0] - med['A'][0]:+.1f} ms" for s in list(sides)[1:]]
    cells += [f"{med[s][1]:.1f} ms" for s in sides]
    cells += [f"{med[s][2] / 1024:.1f} MiB" for s in sides]
    print(f"| `{name}` | " + " | ".join(cells) + f" | {n} | {start_load} -> {end_load} |",
          flush=True)
EOF

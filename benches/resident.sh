#!/usr/bin/env bash
# What is resident when `fluxloop auth status` exits: stops each binary at its exit_group under
# gdb and sums /proc/PID/smaps by kind (the binary's own pages, shared libraries, anonymous).
# One private gnome-keyring and one stand-in (HTTP) serve all, as in benches/ab.sh.
# Usage: benches/resident.sh BINARY [BINARY...]   (needs gdb and the stand-in built)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 ]] || { echo "usage: benches/resident.sh BINARY [BINARY...]" >&2; exit 2; }
stand_in="$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)/fluxloop-stand-in"
work="$(mktemp -d "${TMPDIR:-/tmp}/fluxloop-resident.XXXXXX")"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$stand_in" >"$work/url" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [[ -s "$work/url" ]] && break; sleep 0.05; done
url="$(head -n 1 "$work/url")"
source scripts/lib/private-secret-service.sh
unset DBUS_SESSION_BUS_ADDRESS
start_private_secret_service "$work/keyring"
unset FLUXLOOP_API_KEY FLUXLOOP_PROFILE FLUXLOOP_HOME FLUXLOOP_STORAGE RUST_LOG SSL_CERT_FILE
export HOME="$work/home" FLUXLOOP_KEYRING_SERVICE=fluxloop-resident FLUXLOOP_API_URL="$url" NO_COLOR=1
mkdir -p "$HOME"
printf '%s\n' "flux_dev_abc123def456ghi789jkl012mno34" | "$1" auth login >/dev/null 2>&1

for bin in "$@"; do
    bin="$(realpath "$bin")"
    # At exit_group the process has done all its work and freed nothing back yet.
    gdb -q -batch -ex 'set pagination off' -ex 'catch syscall exit_group' -ex run \
        -ex 'python import gdb; pid = gdb.selected_inferior().pid; open("'"$work"'/smaps", "w").write(open("/proc/%d/smaps" % pid).read())' \
        -ex kill --args "$bin" auth status >/dev/null 2>&1 </dev/null
    python3 - "$bin" "$work/smaps" <<'PY'
import re, sys
binary, path = sys.argv[1], sys.argv[2]
kinds, name = {}, None
for line in open(path):
    head = re.match(r"^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$", line)
    if head:
        perms, file = head.groups()
        if file == binary or file.endswith("(deleted)") and file.startswith(binary):
            name = "binary, " + ("written (relocated, .data, .bss)" if "w" in perms else "read-only (code, constants)")
        elif file.startswith("/"):
            name = "shared libraries"
        elif file in ("[heap]",):
            name = "heap"
        elif file == "[stack]":
            name = "main thread's stack"
        else:
            name = "other anonymous (thread stacks, mmap'd allocations) " if not file else file
        continue
    m = re.match(r"^(Rss|Anonymous):\s+(\d+) kB", line)
    if m:
        kinds.setdefault(name, {"Rss": 0, "Anonymous": 0})[m.group(1)] += int(m.group(2))
total = sum(k["Rss"] for k in kinds.values())
print(f"{binary}: RSS at exit {total} KiB")
for name, k in sorted(kinds.items(), key=lambda kv: -kv[1]["Rss"]):
    print(f"  {k['Rss']:6d} KiB  (anonymous {k['Anonymous']:5d})  {name}")
PY
done

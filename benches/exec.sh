#!/usr/bin/env bash
# What does `fluxloop exec` cost over running the command alone, and over the aws-vault-style
# floor, "read the key from the keychain, then exec"?
#
# Runs, with hyperfine (apt-get install hyperfine), against a private Secret Service
# (gnome-keyring); no network call is made by any of them:
#   1. fluxloop exec -- true                    (release build, masking on)
#   2. fluxloop exec --no-masking -- true
#   3. true alone
#   4. floor: secret-tool lookup, then exec true with the key in its environment, in one shell
# Report the ratios 1/3 and 1/4 (hyperfine prints them under "Summary").
# Usage: benches/exec.sh [hyperfine options, e.g. --runs 200 --export-markdown out.md]
# Timings vary with the machine; this is a benchmark, never a pass/fail test (not run in CI).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in hyperfine secret-tool gnome-keyring-daemon dbus-daemon; do
    command -v "$tool" >/dev/null || { echo "benches/exec.sh: needs $tool" >&2; exit 1; }
done

cargo build --quiet --release -p fluxloop -p fluxloop-stand-in
target="$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)"

work="$(mktemp -d "${TMPDIR:-/tmp}/fluxloop-bench.XXXXXX")"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Login validates the key once against the stand-in; exec itself never calls the platform.
"$target/fluxloop-stand-in" >"$work/url" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [[ -s "$work/url" ]] && break; sleep 0.05; done
url="$(head -n 1 "$work/url")"

source scripts/lib/private-secret-service.sh
unset DBUS_SESSION_BUS_ADDRESS
start_private_secret_service "$work/keyring"

export HOME="$work/keyring/home" FLUXLOOP_API_URL="$url" FLUXLOOP_KEYRING_SERVICE=fluxloop-bench
unset FLUXLOOP_API_KEY FLUXLOOP_PROFILE FLUXLOOP_HOME FLUXLOOP_STORAGE FLUXLOOP_EXEC_PROFILE
printf '%s\n' "flux_dev_abc123def456ghi789jkl012mno34" | "$target/fluxloop" auth login >/dev/null 2>&1

lookup="secret-tool lookup service fluxloop-bench username default"
hyperfine --warmup 5 --runs 100 -N "$@" \
    --command-name "fluxloop exec -- true" "$target/fluxloop exec -- true" \
    --command-name "fluxloop exec --no-masking -- true" "$target/fluxloop exec --no-masking -- true" \
    --command-name "true" "true" \
    --command-name "floor: secret-tool lookup, then exec true" \
    "sh -c 'FLUXLOOP_API_KEY=\$($lookup) exec true'"

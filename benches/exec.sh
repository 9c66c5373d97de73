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

source benches/lib.sh
bench_start exec.sh secret-tool gnome-keyring-daemon dbus-daemon

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

#!/usr/bin/env bash
# How close is `fluxloop auth status` to its floor: one keychain read plus one HTTP round trip?
#
# Runs, with hyperfine (apt-get install hyperfine curl), against the stand-in platform on
# 127.0.0.1 and a private Secret Service (gnome-keyring):
#   1. fluxloop auth status                      (release build)
#   2. floor: secret-tool lookup + curl GET /api/auth/key, in one shell
#   3. secret-tool lookup alone, 4. curl alone   (the floor's parts)
# Usage: benches/status.sh [hyperfine options, e.g. --runs 100 --export-markdown out.md]
# Timings vary with the machine; this is a benchmark, never a pass/fail test.
set -euo pipefail
cd "$(dirname "$0")/.."

source benches/lib.sh
bench_start status.sh curl secret-tool gnome-keyring-daemon dbus-daemon

source scripts/lib/private-secret-service.sh
unset DBUS_SESSION_BUS_ADDRESS
start_private_secret_service "$work/keyring"

export HOME="$work/keyring/home" FLUXLOOP_API_URL="$url" FLUXLOOP_KEYRING_SERVICE=fluxloop-bench
unset FLUXLOOP_API_KEY FLUXLOOP_PROFILE FLUXLOOP_HOME FLUXLOOP_STORAGE
printf '%s\n' "flux_dev_abc123def456ghi789jkl012mno34" | "$target/fluxloop" auth login >/dev/null 2>&1

lookup="secret-tool lookup service fluxloop-bench username default"
hyperfine --warmup 5 --runs 50 -N "$@" \
    --command-name "fluxloop auth status" "$target/fluxloop auth status" \
    --command-name "floor: secret-tool + curl" \
    "sh -c 'k=\$($lookup) && curl -sf -o /dev/null -H \"Authorization: Bearer \$k\" $url/api/auth/key'" \
    --command-name "secret-tool lookup" "$lookup" \
    --command-name "curl GET /api/auth/key" \
    "curl -sf -o /dev/null -H 'Authorization: Bearer flux_dev_abc123def456ghi789jkl012mno34' $url/api/auth/key"

#!/usr/bin/env bash
# What the encrypted-file store's passphrase costs: `fluxloop exec -- true` reading its key from
# an encrypted file (one scrypt unlock at the work factor of src/secrets/encrypted_file.rs)
# against the same command given the key by FLUXLOOP_API_KEY (no unlock at all).
#
# Needs hyperfine (apt-get install hyperfine). The stand-in platform on 127.0.0.1 is used for the
# one login that writes the file; exec itself makes no request.
# Usage: benches/unlock.sh [hyperfine options, e.g. --runs 50 --export-markdown out.md]
# Timings vary with the machine; this is a benchmark, never a pass/fail test.
set -euo pipefail
cd "$(dirname "$0")/.."

source benches/lib.sh
bench_start unlock.sh

key="flux_dev_abc123def456ghi789jkl012mno34"
mkdir -p "$work/home"
export HOME="$work/home" FLUXLOOP_API_URL="$url"
export FLUXLOOP_PASSPHRASE="a passphrase for the benchmark only"
unset FLUXLOOP_API_KEY FLUXLOOP_PROFILE FLUXLOOP_HOME FLUXLOOP_STORAGE
printf '%s\n' "$key" | "$target/fluxloop" auth login --storage encrypted-file >/dev/null 2>&1
head -c 120 "$HOME/.fluxloop/keys/default.age" | grep -a '^-> scrypt' >&2

hyperfine --warmup 3 --runs 30 -N "$@" \
    --command-name "exec -- true, key from the encrypted file" "$target/fluxloop exec -- true" \
    --command-name "exec -- true, key from FLUXLOOP_API_KEY" \
    "env FLUXLOOP_API_KEY=$key $target/fluxloop exec -- true"

# The set-up the benchmarks in benches/ share; sourced, never run. `bench_start NAME TOOL...`
# checks that hyperfine and each TOOL are installed, builds fluxloop and the stand-in in release,
# makes a work directory ($work), starts the stand-in platform on 127.0.0.1 ($url), and stops
# everything started (every pid in `pids`, so scripts/lib/private-secret-service.sh's too) and
# removes $work at exit. $target is the release directory.

bench_start() {
    local name="$1" tool
    shift
    for tool in hyperfine "$@"; do
        command -v "$tool" >/dev/null || { echo "benches/$name: needs $tool" >&2; exit 1; }
    done
    cargo build --quiet --release -p fluxloop -p fluxloop-stand-in
    target="$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)"
    work="$(mktemp -d "${TMPDIR:-/tmp}/fluxloop-bench.XXXXXX")"
    pids=()
    trap bench_stop EXIT INT TERM
    "$target/fluxloop-stand-in" >"$work/url" 2>/dev/null &
    pids+=($!)
    for _ in $(seq 100); do [[ -s "$work/url" ]] && break; sleep 0.05; done
    url="$(head -n 1 "$work/url")"
}

bench_stop() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}

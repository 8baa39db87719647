#!/usr/bin/env bash
# Runs every fuzz target for a while and says, one line per target, how it went.
#
#   fuzz/run.sh [SECONDS_PER_TARGET]     # default 30; CI runs `fuzz/run.sh 20`
#
# Works from any directory. Installs cargo-fuzz if it is missing (the pinned version below),
# builds all targets (release, AddressSanitizer, debug assertions on), then runs each one
# for SECONDS_PER_TARGET seconds with libFuzzer, starting from a fresh copy of the committed
# seeds in fuzz/corpus/<target>/: the working corpus lives in fuzz/target/corpus/, so a run
# never adds files to the git tree. Exits non-zero if any target crashed, timed out, ran out
# of memory, or failed to start. Logs: fuzz/target/logs/<target>.log; a failing input:
# fuzz/target/artifacts/<target>/ (README.md says how to make it a regression seed).
#
# The toolchain: cargo-fuzz 0.13 passes rustc `-Zsanitizer=address` (it never uses the
# `-C` spelling: sanitizers are not stable yet) besides libFuzzer's coverage flags (`-C`,
# stable). This machine has the stable toolchain only, so RUSTC_BOOTSTRAP=1 is exported for
# the fuzz build, which is all it takes: rustc then accepts `-Z` flags, cargo-fuzz treats
# the toolchain as a nightly, and stable's rust-std already ships the ASan runtime. Nothing
# else is needed: no `-Zbuild-std` (which would want rust-src), so std itself is not
# instrumented and ASan checks our code and the crates'. The rest of the workspace is never
# built with RUSTC_BOOTSTRAP.
set -euo pipefail

SECONDS_PER_TARGET="${1:-30}"
CARGO_FUZZ_VERSION="0.13.1"
# libFuzzer's limits. A target over RSS_LIMIT_MB (memory growth, or a huge allocation) or
# one input taking longer than TIMEOUT_S counts as a failure, like a crash.
RSS_LIMIT_MB=2048
TIMEOUT_S=10

FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$FUZZ_DIR"
export RUSTC_BOOTSTRAP=1

if [[ "$(cargo fuzz --version 2>/dev/null || true)" != *"$CARGO_FUZZ_VERSION"* ]]; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

echo "== building the fuzz targets"
cargo fuzz build

TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
BIN_DIR="$FUZZ_DIR/target/$TRIPLE/release"
WORK="$FUZZ_DIR/target"
mkdir -p "$WORK/logs"

# The longest input libFuzzer makes, per target. The handshake parsers have an 8 KiB head
# limit, so their inputs must be able to cross it; the others reach every rule in 4 KiB.
max_len() {
    case "$1" in
        handshake_request | handshake_response) echo 12288 ;;
        *) echo 4096 ;;
    esac
}

failed=0
printf '%-20s %12s %9s %7s %7s %8s  %s\n' target execs exec/s cov ft rss_mb crash
for target in $(cargo fuzz list); do
    corpus="$WORK/corpus/$target"
    artifacts="$WORK/artifacts/$target"
    log="$WORK/logs/$target.log"
    rm -rf "$corpus" "$artifacts"
    mkdir -p "$corpus" "$artifacts"
    cp "$FUZZ_DIR/corpus/$target/"* "$corpus/"

    status=0
    "$BIN_DIR/$target" "$corpus" \
        -max_total_time="$SECONDS_PER_TARGET" \
        -rss_limit_mb="$RSS_LIMIT_MB" \
        -timeout="$TIMEOUT_S" \
        -max_len="$(max_len "$target")" \
        -artifact_prefix="$artifacts/" \
        -print_final_stats=1 \
        >"$log" 2>&1 || status=$?

    # libFuzzer's last status line ("#N DONE cov: C ft: F ... exec/s: E rss: RMb") and
    # its final statistics.
    last="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
    field() { sed -n "s/.* $1: \([0-9]*\).*/\1/p" <<<"$last"; }
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
    rss="$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")"
    crash=no
    if [[ $status -ne 0 ]] || ls "$artifacts"/* >/dev/null 2>&1; then
        crash="YES (exit $status; see $log)"
        failed=1
    fi
    printf '%-20s %12s %9s %7s %7s %8s  %s\n' "$target" "${execs:-?}" "${rate:-?}" \
        "$(field cov)" "$(field ft)" "${rss:-?}" "$crash"
done

if [[ $failed -ne 0 ]]; then
    echo "fuzz: at least one target failed" >&2
    exit 1
fi
echo "fuzz: every target ran ${SECONDS_PER_TARGET}s without a crash, timeout or leak"

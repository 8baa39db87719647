#!/usr/bin/env bash
# Is the harness's own HTTP client the bottleneck? Measures the request rate of the harness
# and of oha (an established HTTP load generator, `cargo install oha --locked`) against the
# same REST server, at the same concurrency, on the same cores, in alternating pairs.
#
#   benches/scripts/vs-oha.sh                      # 5 pairs of 5 s at 16 connections, 16 B
#   PAIRS=3 SECONDS_EACH=3 CONNS=8 SIZE=256 benches/scripts/vs-oha.sh
#
# Both load generators send `POST /echo` with the same protobuf body on HTTP/1.1 keep-alive
# connections to `bench serve`, pinned to core 0, while the load generator runs on core 1.
# The harness also decodes and checks every reply; oha only reads it. Prints one line per
# pair and the median ratio. Chapter 11 quotes its output.
set -euo pipefail
cd "$(dirname "$0")/../.."

PAIRS=${PAIRS:-5}
SECONDS_EACH=${SECONDS_EACH:-5}
CONNS=${CONNS:-16}
SIZE=${SIZE:-16}

if ! command -v oha >/dev/null; then
    echo "oha is not installed: cargo install oha --locked" >&2
    exit 1
fi
if [ "$(nproc)" -lt 2 ]; then
    echo "needs two cores (one for the server, one for the load generator)" >&2
    exit 1
fi
if [ "$SIZE" -lt 1 ] || [ "$SIZE" -gt 127 ]; then
    echo "SIZE must be 1 to 127 bytes (one-byte protobuf length)" >&2
    exit 1
fi

cargo build --release --quiet -p bench
bench=target/release/bench
work=$(mktemp -d)
trap 'rm -rf "$work"; kill "$server_pid" 2>/dev/null || true' EXIT

# The request body: an EchoRequest (field 1 seq = 0, field 2 payload of SIZE bytes), the
# same protobuf the harness sends.
python3 - "$SIZE" >"$work/body.bin" <<'PY'
import sys
size = int(sys.argv[1])
sys.stdout.buffer.write(bytes([0x08, 0x00, 0x12, size]) + bytes((i * 37) & 0xFF for i in range(size)))
PY

# The server for oha: `bench serve` prints its addresses as one JSON line and exits when its
# stdin closes; a fifo keeps stdin open until this script ends.
mkfifo "$work/stdin"
"$bench" serve --core 0 <"$work/stdin" >"$work/addrs" &
server_pid=$!
exec 3>"$work/stdin"
for _ in $(seq 50); do [ -s "$work/addrs" ] && break; sleep 0.1; done
http=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$work/addrs")

harness_rate() {
    "$bench" run --transports http1 --encodings proto --sizes "$SIZE" --concurrency "$CONNS" \
        --echo-only --reps 1 --warmup 500ms --duration "${SECONDS_EACH}s" --quiet \
        --out "$work/run" >/dev/null 2>"$work/run.err" || { cat "$work/run.err" >&2; exit 1; }
    python3 - "$work/run/echo.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"{float(rows[0]['throughput']):.0f}")
PY
}

oha_rate() {
    taskset -c 1 oha --no-tui --output-format json -c "$CONNS" -z "${SECONDS_EACH}s" \
        -m POST -T application/x-protobuf -D "$work/body.bin" "http://$http/echo" \
        >"$work/oha.json"
    python3 - "$work/oha.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
if s.get("successRate", 1) < 1:
    sys.exit(f"oha saw failures: success rate {s['successRate']}")
print(f"{s['requestsPerSec']:.0f}")
PY
}

echo "REST over HTTP/1.1, POST /echo, $SIZE B protobuf, $CONNS connections, $PAIRS pairs of ${SECONDS_EACH} s"
ratios=()
for pair in $(seq "$PAIRS"); do
    h=$(harness_rate)
    o=$(oha_rate)
    r=$(python3 -c "print(f'{$h / $o:.3f}')")
    ratios+=("$r")
    printf 'pair %d: harness %s req/s, oha %s req/s, harness/oha %s\n' "$pair" "$h" "$o" "$r"
done
python3 -c "import statistics,sys; print(f'median harness/oha: {statistics.median(map(float, sys.argv[1:])):.3f}')" "${ratios[@]}"

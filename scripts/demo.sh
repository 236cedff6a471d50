#!/usr/bin/env bash
# The main job, on a fresh machine: build everything, start a local node
# with the example goals, submit the example agents (good ones with a couple
# of parameter sets, and every hostile one) through the real HTTP API, print
# the leaderboards and the rejections with their reasons, verify one
# receipt offline, have a second node mirror the trading log over libp2p
# (re-evaluating every entry before it cosigns), and stop the nodes cleanly.
#
# Environment:
#   CARGO_TARGET_DIR   where the host binary is built (default: target)
#   IAN_DEMO_KEEP=1    keep the temporary data directory for inspection
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Toolchain and guest components"
rustup target add wasm32-unknown-unknown wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown wasm32-wasip2
./scripts/build-guests.sh
components=${IAN_COMPONENTS_DIR:-$root/target/components}

say "Building ian-host (release)"
cargo build --release -p ian-node --bin ian-host
target_dir=${CARGO_TARGET_DIR:-$root/target}
ian="$target_dir/release/ian-host"

work=$(mktemp -d "${TMPDIR:-/tmp}/ian-demo.XXXXXX")
node_pid=""
mirror_pid=""
cleanup() {
    for pid in "$node_pid" "$mirror_pid"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [[ "${IAN_DEMO_KEEP:-0}" != 1 ]]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT

say "Starting a node on a free loopback port (data dir $work/data)"
IAN_LISTEN=127.0.0.1:0 IAN_DATA_DIR="$work/data" IAN_LOG=warn IAN_P2P=true "$ian" serve >"$work/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 300); do
    [[ -s "$work/data/node.addr" ]] && break
    if ! kill -0 "$node_pid" 2>/dev/null; then cat "$work/node.log"; echo "node failed to start" >&2; exit 1; fi
    sleep 0.1
done
[[ -s "$work/data/node.addr" ]] || { cat "$work/node.log"; echo "node did not report its address" >&2; exit 1; }
export IAN_NODE=$(cat "$work/data/node.addr")
echo "node at $IAN_NODE"

say "Publishing the example goals"
goal_id() { sed -n 's/^id *= *"\(.*\)".*/\1/p' "$1" | head -1; }
for g in examples/goals/*.toml; do
    "$ian" goal publish "$g" --operator-key-file "$work/data/operator.key"
done
trading=$(goal_id examples/goals/trading.toml)
bandit=$(goal_id examples/goals/bandit.toml)
dataset=$(goal_id examples/goals/trading-wasi.toml)

"$ian" keygen --out "$work/alice.key" >/dev/null
"$ian" keygen --out "$work/bob.key" >/dev/null

pack() { # name params out
    "$ian" pack "$components/$1.wasm" --params "$2" --meta "name=$1" --out "$3" >/dev/null
}
submit() { # goal pack key label
    printf -- '-- %-40s ' "$4"
    local rc=0
    "$ian" submit "$2" --goal "$1" --key "$3" --receipt-out "$work/last-receipt.tlog-proof.tmp" >"$work/out.txt" 2>&1 || rc=$?
    head -1 "$work/out.txt"
    if [[ $rc -eq 0 ]]; then mv "$work/last-receipt.tlog-proof.tmp" "$work/receipt.tlog-proof"; fi
    if [[ $rc -ne 0 && $rc -ne 3 ]]; then cat "$work/out.txt"; exit 1; fi
}

say "Submitting good trading agents (goal $trading)"
i=0
for spec in "buy-and-hold|position=1.0" "buy-and-hold|position=-1.0" \
            "ma-crossover|short=5,long=20" "ma-crossover|short=10,long=40" \
            "mean-reversion|window=20,z=1.0" "mean-reversion|window=50,z=1.5"; do
    name=${spec%%|*}; params=${spec#*|}; i=$((i + 1))
    pack "$name" "$params" "$work/t$i.ianpack"
    submit "$trading" "$work/t$i.ianpack" "$work/alice.key" "$name $params"
done

say "Submitting bandit agents (goal $bandit)"
for spec in "bandit-ucb|c=1.0" "bandit-ucb|c=0.2" "bandit-epsilon-greedy|epsilon=0.1,seed=7" "bandit-epsilon-greedy|epsilon=0.3,seed=1"; do
    name=${spec%%|*}; params=${spec#*|}; i=$((i + 1))
    pack "$name" "$params" "$work/b$i.ianpack"
    submit "$bandit" "$work/b$i.ianpack" "$work/bob.key" "$name $params"
done

say "Submitting to the dataset goal (goal $dataset: the same backtest, read by a WASI harness from its read-only /data)"
submit "$dataset" "$work/t3.ianpack" "$work/alice.key" "ma-crossover short=5,long=20"
submit "$dataset" "$work/t5.ianpack" "$work/alice.key" "mean-reversion window=20,z=1.0"

say "Submitting hostile agents (each must be rejected with its own reason)"
for name in hostile-infinite-loop hostile-memory-bomb hostile-stack-overflow hostile-panic \
            hostile-nan-action hostile-infinite-action hostile-oversized-action hostile-wasi-fs; do
    if [[ -f "$components/$name.wasm" ]]; then
        i=$((i + 1))
        pack "$name" "" "$work/h$i.ianpack"
        submit "$trading" "$work/h$i.ianpack" "$work/bob.key" "$name"
    fi
done
submit "$trading" "$components/trading-harness.wasm" "$work/bob.key" "trading-harness (wrong world)"
head -c 4096 /dev/urandom >"$work/random.wasm"
submit "$trading" "$work/random.wasm" "$work/bob.key" "random bytes"
submit "$trading" "$work/t1.ianpack" "$work/bob.key" "buy-and-hold again (duplicate)"

say "Leaderboards"
"$ian" leaderboard "$trading"
echo
"$ian" leaderboard "$bandit"
echo
echo "(the dataset goal's metrics equal the embedded harness's for the same packs, bit for bit)"
"$ian" leaderboard "$dataset"

say "Status"
"$ian" status

say "Verifying the last receipt offline against the node key"
node_key=$("$ian" status --json | sed -n 's/.*"public_key": *"\([0-9a-f]*\)".*/\1/p' | head -1)
"$ian" verify "$work/receipt.tlog-proof" --node-key "$node_key"

say "A second node as a mirror over libp2p: it re-evaluates every trading entry before it cosigns"
trading_vkey=$("$ian" status "$trading" --json | sed -n 's/.*"log_vkey": *"\([^"]*\)".*/\1/p' | head -1)
# `p2p`: copy the log from any libp2p peer that serves it (here, the node).
echo "log $trading_vkey p2p" >"$work/mirrored-logs"
IAN_LISTEN=127.0.0.1:0 IAN_DATA_DIR="$work/mirror" IAN_LOG=warn IAN_NODE_NAME=mirror.local \
    IAN_WITNESS=true IAN_WITNESS_REEVALUATE=true IAN_WITNESS_LOGS_FILE="$work/mirrored-logs" \
    IAN_P2P=true IAN_P2P_BOOTSTRAP="$(head -1 "$work/data/node.p2p")" \
    "$ian" serve >"$work/mirror.log" 2>&1 &
mirror_pid=$!
for _ in $(seq 1 300); do
    [[ -s "$work/mirror/node.addr" ]] && break
    if ! kill -0 "$mirror_pid" 2>/dev/null; then cat "$work/mirror.log"; echo "mirror failed to start" >&2; exit 1; fi
    sleep 0.1
done
mirror=$(cat "$work/mirror/node.addr")
echo "mirror at $mirror"
# The tlog-witness request a primary with a witness policy sends on its own:
# `old <size>`, the consistency proof (none from 0), a blank line, the note.
{ printf 'old 0\n\n'; "$ian" status "$trading" --json | jq -j .checkpoint; } >"$work/add-checkpoint.txt"
echo "the primary's checkpoint of $trading:"
sed -n '3,$p' "$work/add-checkpoint.txt" | sed 's/^/    /'
echo "the mirror's cosignature (cosignature/v1):"
# 503 until the mirror has met the node on libp2p; then it copies,
# re-evaluates and cosigns.
for _ in $(seq 1 100); do
    if curl -sS --fail-with-body --data-binary @"$work/add-checkpoint.txt" "$mirror/witness/add-checkpoint" >"$work/cosignature.txt" 2>/dev/null; then
        break
    fi
    sleep 0.2
done
[[ -s "$work/cosignature.txt" ]] || { cat "$work/mirror.log"; echo "the mirror did not cosign" >&2; exit 1; }
sed 's/^/    /' "$work/cosignature.txt"
curl -sS "$mirror/metrics" | grep -E '^ian_(mirror_reevaluated|evidence)_total|^ian_p2p_peers'
"$ian" peers --node "$mirror"
kill -TERM "$mirror_pid"; wait "$mirror_pid" || true
mirror_pid=""

say "Leaderboard page: $IAN_NODE/  (stopping the node now)"
kill -TERM "$node_pid"
wait "$node_pid"
node_pid=""
echo "node stopped cleanly"

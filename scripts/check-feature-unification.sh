#!/usr/bin/env bash
# Regression check: after a workspace build, testing or building one package
# must reuse the workspace's dependency artifacts instead of compiling a
# second copy of wasmtime, cranelift and the other heavy crates.
#
# Cargo resolves features per set of selected packages, so `-p X` can build a
# dependency with fewer features than `--workspace` does, which is a
# different artifact. The feature pins in the workspace Cargo.toml keep the
# two equal; this script fails when they drift.
#
# It runs the workspace build first (incremental when the target dir is warm),
# records the artifact file of every registry crate, then builds each default
# member with `cargo test --release -p X --no-run` (and the ian-host binary
# the README builds) and fails if a heavy crate
#   * is compiled again ("Compiling wasmtime ..."), or
#   * resolves to a different artifact than the workspace build's (catches an
#     older, already-built copy being picked up as "Fresh").
# Other registry crates that differ are listed as warnings; STRICT=1 makes
# them fatal too.
#
# Usage: scripts/check-feature-unification.sh   (takes a while on a cold target dir)
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

PACKAGES=(ian-core ian-store ian-sandbox ian-tau ian-componentize ian-ratelimit ian-p2p ian-workers ian-node ian-tests)
# Crate names (as in Cargo.lock) that must never be built twice.
HEAVY='^(wasmtime|wasmtime-.*|cranelift-.*|pulley-.*|wasmparser|wasm-encoder|wit-component|wit-parser|tokio|hyper|hyper-util|axum|redb)$'
STRICT="${STRICT:-0}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# cargo --message-format=json on stdin -> "name@version first-artifact-file", one per
# compiled unit of a registry crate.
artifacts() {
    grep '"reason":"compiler-artifact"' \
        | grep '"package_id":"registry+' \
        | sed -E 's/.*"package_id":"[^"#]*#([^"]*)".*"filenames":\["([^"]*)".*/\1 \2/' \
        | sort -u
}

# $1: label; rest: cargo arguments. Writes $tmp/<label>.{json,err}.
build() {
    local label="$1"; shift
    echo "== cargo $*" >&2
    if ! cargo "$@" --message-format=json >"$tmp/$label.json" 2>"$tmp/$label.err"; then
        cat "$tmp/$label.err" >&2
        echo "error: cargo $* failed" >&2
        exit 1
    fi
}

build workspace test --release --workspace --no-run
artifacts <"$tmp/workspace.json" >"$tmp/workspace.txt"

fail=0
check() {
    local label="$1"
    artifacts <"$tmp/$label.json" >"$tmp/$label.txt"
    # Units of this build whose artifact the workspace build did not produce.
    local extra
    extra="$(comm -23 "$tmp/$label.txt" "$tmp/workspace.txt")"
    local compiled
    compiled="$(grep -E '^ *Compiling ' "$tmp/$label.err" | grep -vE 'Compiling ian-|\(/' || true)"
    while read -r unit file; do
        [ -n "$unit" ] || continue
        local name="${unit%@*}"
        if [[ "$name" =~ $HEAVY ]] || [ "$STRICT" = 1 ]; then
            echo "FAIL [$label] $unit: $(basename "$file") differs from the workspace build's" >&2
            fail=1
        else
            echo "warn [$label] $unit: $(basename "$file") differs from the workspace build's" >&2
        fi
    done <<<"$extra"
    if grep -qE 'Compiling (wasmtime|cranelift-codegen) ' <<<"$compiled"; then
        echo "FAIL [$label] rebuilt:" >&2
        grep -E 'Compiling (wasmtime|cranelift-codegen) ' <<<"$compiled" >&2
        fail=1
    fi
    [ -z "$compiled" ] || { echo "[$label] compiled dependencies:" >&2; echo "$compiled" >&2; }
}

for p in "${PACKAGES[@]}"; do
    build "$p" test --release -p "$p" --no-run
    check "$p"
done
build ian-host build --release -p ian-node --bin ian-host
check ian-host

if [ "$fail" = 0 ]; then
    echo "ok: every package reuses the workspace build's heavy dependencies" >&2
else
    echo "feature unification drifted: align features in the workspace Cargo.toml (see the comment above [workspace.dependencies])" >&2
    exit 1
fi

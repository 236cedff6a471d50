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
# Two passes:
#  1. Resolution (seconds, no build): `cargo tree -e features` for the
#     workspace and for each default member; every registry crate a member
#     resolves must carry exactly a feature set the workspace resolves for it.
#     A difference fails and names the crate and both feature sets. (A crate
#     the workspace builds twice, for build scripts and for the target, has
#     two feature sets; `cargo tree` does not say which side a member uses,
#     so pass 2 is what settles those.)
#  2. Artifacts: the workspace build (incremental when the target dir is
#     warm), recording the artifact file of every registry crate, then
#     `cargo test --release -p X --no-run` for each member (and the ian-host
#     binary the README builds). With pass 1 clean these are all "Fresh" and
#     take seconds; any registry crate compiled again, or resolving to an
#     artifact the workspace build did not produce (an older copy picked up
#     as "Fresh"), fails. STRICT=0 downgrades non-heavy crates to warnings.
#
# Usage: scripts/check-feature-unification.sh   (takes a while on a cold target dir)
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

PACKAGES=(ian-core ian-store ian-sandbox ian-tau ian-componentize ian-ratelimit ian-p2p ian-workers ian-node ian-tests)
# Crate names (as in Cargo.lock) that must never be built twice.
HEAVY='^(wasmtime|wasmtime-.*|cranelift-.*|pulley-.*|wasmparser|wasm-encoder|wit-component|wit-parser|tokio|hyper|hyper-util|axum|redb)$'
STRICT="${STRICT:-1}"

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

# Pass 1: "name version features" of every registry crate a selection resolves.
resolved() {
    cargo tree "$@" -e features,normal,build,dev -f '{p} {f}' --prefix none \
        | grep -v ' feature "' | grep -v '(/' \
        | sed -E 's/ \(\*\)$//; s/ \(proc-macro\)//' | sort -u
}
fail=0
resolved --workspace >"$tmp/workspace.tree"
for p in "${PACKAGES[@]}"; do
    while read -r name version features; do
        [ -n "$name" ] || continue
        echo "FAIL [$p] $name $version resolves features {$features}; the workspace resolves" \
            "{$(awk -v n="$name" -v v="$version" '$1 == n && $2 == v { print $3 }' "$tmp/workspace.tree" | paste -sd '|')}" >&2
        fail=1
    done < <(resolved -p "$p" | comm -23 - "$tmp/workspace.tree")
done
if [ "$fail" = 1 ]; then
    echo "feature unification drifted: pin the features above in the workspace Cargo.toml (see the comment above [workspace.dependencies])" >&2
    exit 1
fi
echo "ok: every package resolves the workspace's feature sets" >&2

# Pass 2: the builds themselves.
build workspace test --release --workspace --no-run
artifacts <"$tmp/workspace.json" >"$tmp/workspace.txt"

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
    echo "ok: every package reuses the workspace build's dependencies" >&2
else
    echo "feature unification drifted: pin the features of the crates above in the workspace Cargo.toml (see the comment above [workspace.dependencies])" >&2
    exit 1
fi

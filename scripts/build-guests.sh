#!/usr/bin/env bash
# Builds every guest (example agents, harnesses, invariants) for wasm and
# turns each into a component at target/components/<name>.wasm.
#
# Idempotent and incremental: cargo skips unchanged crates and the
# componentizer leaves unchanged outputs untouched, so a second run takes
# about a second. Works on a fresh machine with rustup.
#
# Guests build for wasm32-unknown-unknown unless their Cargo.toml says
#   [package.metadata.ian]
#   target = "wasm32-wasip2"
#
# Environment:
#   IAN_GUEST_TARGET_DIR  where cargo builds guests (default: target/guests)
#   IAN_COMPONENTS_DIR    where components land (default: target/components)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

guest_target_dir=${IAN_GUEST_TARGET_DIR:-$root/target/guests}
components_dir=${IAN_COMPONENTS_DIR:-$root/target/components}

if command -v rustup >/dev/null 2>&1; then
    rustup target add wasm32-unknown-unknown wasm32-wasip2 >/dev/null 2>&1 ||
        rustup target add wasm32-unknown-unknown wasm32-wasip2
fi

# The guest profile: small code, whole-program optimisation, no DWARF, but
# the `name` section is kept (strip = "debuginfo", not "symbols") so that
# trap backtraces name the guest's functions. Given on the command line so
# it applies to guest builds only, never to host builds.
guest_profile=(
    --config 'profile.release.opt-level="s"'
    --config 'profile.release.lto=true'
    --config 'profile.release.codegen-units=1'
    --config 'profile.release.panic="abort"'
    --config 'profile.release.debug=false'
    --config 'profile.release.strip="debuginfo"'
    --config 'profile.release.incremental=false'
)

unknown=()
wasip2=()
for manifest in example-agents/*/Cargo.toml example-harnesses/*/Cargo.toml; do
    name=$(basename "$(dirname "$manifest")")
    if grep -Eq '^target *= *"wasm32-wasip2"' "$manifest"; then
        wasip2+=("$name")
    else
        unknown+=("$name")
    fi
done

pkg_args() { for n in "$@"; do printf -- '-p\n%s\n' "$n"; done; }

echo "building ${#unknown[@]} wasm32-unknown-unknown and ${#wasip2[@]} wasm32-wasip2 guests into $guest_target_dir" >&2
if ((${#unknown[@]})); then
    mapfile -t args < <(pkg_args "${unknown[@]}")
    cargo build --release --quiet "${guest_profile[@]}" --target wasm32-unknown-unknown \
        --target-dir "$guest_target_dir" "${args[@]}"
fi
if ((${#wasip2[@]})); then
    mapfile -t args < <(pkg_args "${wasip2[@]}")
    cargo build --release --quiet "${guest_profile[@]}" --target wasm32-wasip2 \
        --target-dir "$guest_target_dir" "${args[@]}"
fi

pairs=()
for n in "${unknown[@]}"; do
    pairs+=("$guest_target_dir/wasm32-unknown-unknown/release/${n//-/_}.wasm" "$components_dir/$n.wasm")
done
for n in "${wasip2[@]}"; do
    pairs+=("$guest_target_dir/wasm32-wasip2/release/${n//-/_}.wasm" "$components_dir/$n.wasm")
done
mkdir -p "$components_dir"
echo "componentizing into $components_dir" >&2
cargo run --release --quiet -p ian-componentize -- "${pairs[@]}" >/dev/null

printf '%-28s %-24s %10s\n' component target bytes
for n in "${unknown[@]}"; do
    printf '%-28s %-24s %10s\n' "$n" wasm32-unknown-unknown "$(wc -c <"$components_dir/$n.wasm")"
done
for n in "${wasip2[@]}"; do
    printf '%-28s %-24s %10s\n' "$n" wasm32-wasip2 "$(wc -c <"$components_dir/$n.wasm")"
done
echo "components in $components_dir"

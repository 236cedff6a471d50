#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for N seconds each (default 60):
#   ./scripts/fuzz.sh [seconds-per-target]
# See docs/FUZZING.md. Prints, per target, the number of executions and
# whether anything was found; exits 1 on a finding (crash artifacts are left
# under fuzz/artifacts/<target>/). Where fuzzing cannot run at all (no
# cargo-fuzz and no way to install it, no toolchain that can build the
# targets) it prints "fuzzing skipped: <why>" and exits 0. Targets run one
# per core at a time; IAN_FUZZ_JOBS sets how many.
#
# Toolchain: a `nightly` toolchain, when rustup has one, gives the usual
# cargo-fuzz build (AddressSanitizer). Otherwise the pinned stable toolchain
# builds the targets with `--sanitizer none` (libFuzzer's coverage
# instrumentation and the Rust overflow/debug checks stay on); if that needs
# unstable flags, it is retried with RUSTC_BOOTSTRAP=1, for the fuzz crate's
# build only. Set IAN_FUZZ_STABLE=1 to use the stable path even when nightly
# is installed.
set -uo pipefail
cd "$(dirname "$0")/.."

secs="${1:-60}"
case "$secs" in
    '' | *[!0-9]*) echo "usage: $0 [seconds-per-target]" >&2; exit 2 ;;
esac

skip() {
    echo "fuzzing skipped: $*"
    exit 0
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked || skip "cargo-fuzz is not installed and 'cargo install cargo-fuzz --locked' failed"
fi

fuzz=(cargo fuzz)
sanitizer=()
env_extra=()
mode=""
if [ "${IAN_FUZZ_STABLE:-0}" != 1 ] && command -v rustup >/dev/null 2>&1 &&
    rustup toolchain list 2>/dev/null | grep -q '^nightly' &&
    cargo +nightly --version >/dev/null 2>&1; then
    fuzz=(cargo +nightly fuzz)
    mode="nightly, AddressSanitizer"
else
    sanitizer=(--sanitizer none)
    mode="stable ($(rustc --version 2>/dev/null | cut -d' ' -f2)), no sanitizer"
fi

log_dir="$(mktemp -d)"
trap 'rm -rf "$log_dir"' EXIT

# A build failure in our own code fails the run; one caused by the toolchain
# or the machine (unstable flags refused, no C++ compiler for libFuzzer)
# skips it.
build() {
    env ${env_extra[@]+"${env_extra[@]}"} "${fuzz[@]}" build ${sanitizer[@]+"${sanitizer[@]}"} >"$log_dir/build" 2>&1
}
own_error() {
    grep -qE "could not compile \`(ian-fuzz|ian-core)\`" "$log_dir/build"
}
echo "fuzz: building the targets ($mode)"
start=$SECONDS
if ! build; then
    if [ -z "${sanitizer[*]:-}" ] || own_error; then
        tail -n 40 "$log_dir/build"
        echo "fuzz: the fuzz targets do not build" >&2
        exit 1
    fi
    env_extra=(RUSTC_BOOTSTRAP=1)
    mode="$mode, RUSTC_BOOTSTRAP=1"
    echo "fuzz: stable build failed; retrying with RUSTC_BOOTSTRAP=1"
    if ! build; then
        if own_error; then
            tail -n 40 "$log_dir/build"
            echo "fuzz: the fuzz targets do not build" >&2
            exit 1
        fi
        skip "no nightly toolchain, and the stable toolchain cannot build the targets: $(grep -m1 -E '^error' "$log_dir/build" || tail -n 1 "$log_dir/build")"
    fi
fi
echo "fuzz: built in $((SECONDS - start)) s"

mapfile -t targets < <("${fuzz[@]}" list 2>/dev/null)
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz: no targets found" >&2; exit 1; }

# One target per core at a time (IAN_FUZZ_JOBS overrides): each fuzzer is
# single-threaded, so the wall time is the targets' total over the cores.
jobs="${IAN_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}"
case "$jobs" in
    '' | *[!0-9]* | 0) echo "fuzz: IAN_FUZZ_JOBS must be a positive number" >&2; exit 2 ;;
esac

fuzz_one() {
    local t="$1"
    local corpus="fuzz/corpus/$t"
    local artifacts="fuzz/artifacts/$t"
    # The first directory receives new inputs; seeds and regressions are
    # only read (every regression is run before fuzzing starts).
    local dirs=("$corpus" "fuzz/seeds/$t")
    [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
    env ${env_extra[@]+"${env_extra[@]}"} "${fuzz[@]}" run ${sanitizer[@]+"${sanitizer[@]}"} "$t" "${dirs[@]}" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log_dir/$t" 2>&1
    echo $? >"$log_dir/$t.rc"
}

echo "fuzz: ${#targets[@]} targets, ${secs} s each, $jobs at a time"
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    ls "fuzz/artifacts/$t" >"$log_dir/$t.before"
done
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    echo "fuzz: $t"
    fuzz_one "$t" &
    running=$((running + 1))
done
wait

found=0
summary=()
for t in "${targets[@]}"; do
    artifacts="fuzz/artifacts/$t"
    before="$(cat "$log_dir/$t.before")"
    rc="$(cat "$log_dir/$t.rc" 2>/dev/null || echo 1)"
    runs="$(grep -oE '^stat::number_of_executed_units: [0-9]+' "$log_dir/$t" | grep -oE '[0-9]+$' | tail -n 1)"
    [ -n "$runs" ] || runs="$(grep -oE '^#[0-9]+' "$log_dir/$t" | tail -n 1 | tr -d '#')"
    new="$(comm -13 <(echo "$before") <(ls "$artifacts"))"
    if [ "$rc" -eq 0 ] && [ -z "$new" ]; then
        result="nothing found"
    else
        found=1
        grep -E -m 3 "panicked at|ERROR: |SUMMARY: " "$log_dir/$t" | sed 's/^/    /'
        if [ -n "$new" ]; then
            result="FOUND: $(echo "$new" | sed "s|^|$artifacts/|" | tr '\n' ' ')"
        else
            result="FAILED (exit $rc), log tail:"
            tail -n 20 "$log_dir/$t" | sed 's/^/    /'
        fi
    fi
    line="$(printf '%-16s %12s executions  %s' "$t" "${runs:-?}" "$result")"
    echo "$line"
    summary+=("$line")
done

echo
echo "fuzz summary ($mode, ${secs} s per target):"
printf '  %s\n' "${summary[@]}"
if [ "$found" -ne 0 ]; then
    echo "fuzz: findings above; reproduce with: cargo fuzz run ${sanitizer[*]:-} <target> <artifact>" >&2
    exit 1
fi

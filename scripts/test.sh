#!/usr/bin/env bash
# Set up a fresh machine and run the whole test suite.
#
# Tests run with --release: they drive real wasmtime, and debug wasmtime is
# 15-25x slower. Guests are built first because the tests load the real
# components from target/components/.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-unknown-unknown wasm32-wasip2

# Headless Chromium for the leaderboard page test (Debian package).
if ! command -v chromium >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "note: chromium not installed; the page tests in headless Chromium will be skipped" >&2
    fi
fi
if command -v chromium >/dev/null 2>&1; then
    export IAN_REQUIRE_CHROMIUM=1
fi

# promtool (Debian package prometheus) checks deploy/prometheus in tests/tests/monitoring.rs.
if ! command -v promtool >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    else
        echo "note: promtool not installed; the alert-rule tests will be skipped" >&2
    fi
fi

# Go's sumdb note/tlog packages (Debian) verify the log in tests/tests/transparency.rs.
if ! [ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ] || ! command -v go >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go golang-golang-x-mod-dev >/dev/null
    else
        echo "error: install golang-go and golang-golang-x-mod-dev (the interop test needs Go's sumdb packages)" >&2
        exit 1
    fi
fi

# schemathesis (PyPI, pinned) fuzzes the OpenAPI document against a live node
# in tests/tests/openapi.rs; kept in a venv under target/ between runs.
SCHEMATHESIS_VERSION=4.32.5
st_dir=target/tools/schemathesis
if ! "$st_dir/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    rm -rf "$st_dir"
    if python3 -m venv "$st_dir" >/dev/null 2>&1 \
        && "$st_dir/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION" >/dev/null 2>&1; then
        :
    else
        rm -rf "$st_dir"
        echo "note: schemathesis could not be installed; its test will be skipped" >&2
    fi
fi
if [ -x "$st_dir/bin/schemathesis" ]; then
    export IAN_REQUIRE_SCHEMATHESIS=1
fi

# Toolchains of the agent templates in other languages
# (tests/tests/agent_languages.rs): componentize-py from PyPI and jco from
# npm, pinned to what `ian-host new agent --lang` writes, kept under
# target/tools/ between runs; clang, lld and wasi-libc from Debian.
COMPONENTIZE_PY_VERSION=0.25.1
JCO_VERSION=1.35.0
lang_tools=1
cpy_dir=target/tools/componentize-py
if ! "$cpy_dir/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
    rm -rf "$cpy_dir"
    python3 -m venv "$cpy_dir" >/dev/null 2>&1 \
        && "$cpy_dir/bin/pip" install -q "componentize-py==$COMPONENTIZE_PY_VERSION" >/dev/null 2>&1 \
        || { rm -rf "$cpy_dir"; lang_tools=0; echo "note: componentize-py could not be installed" >&2; }
fi
jco_dir=target/tools/jco
if ! grep -qs "\"version\": \"$JCO_VERSION\"" "$jco_dir/node_modules/@bytecodealliance/jco/package.json"; then
    rm -rf "$jco_dir"
    mkdir -p "$jco_dir"
    if ! (command -v npm >/dev/null 2>&1 \
        && npm install --prefix "$jco_dir" --no-audit --no-fund --silent "@bytecodealliance/jco@$JCO_VERSION" >/dev/null 2>&1); then
        rm -rf "$jco_dir"; lang_tools=0; echo "note: jco could not be installed" >&2
    fi
fi
if ! command -v clang >/dev/null 2>&1 || ! [ -f /usr/include/wasm32-wasi/stdlib.h ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            clang lld wasi-libc libclang-rt-dev-wasm32 >/dev/null
    else
        lang_tools=0; echo "note: clang, lld and wasi-libc not installed" >&2
    fi
fi
if [ "$lang_tools" = 1 ]; then
    export IAN_REQUIRE_LANG_TOOLCHAINS=1
fi

# nats-server with JetStream (Debian) for the evaluation-worker tests
# (tests/tests/workers.rs) and the scaling bench.
if ! command -v nats-server >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nats-server >/dev/null
    else
        echo "note: nats-server not installed; the evaluation-worker tests will be skipped" >&2
    fi
fi
if command -v nats-server >/dev/null 2>&1; then
    export IAN_REQUIRE_NATS=1
fi

# cargo-deb builds the Debian package tests/tests/deploy.rs installs.
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install cargo-deb --locked --version 3.8.0
fi

./scripts/build-guests.sh
# Builds the workspace's tests, then checks that `cargo test --release -p
# <crate>` after that build reuses its wasmtime (and every other heavy
# dependency) instead of building another copy.
./scripts/check-feature-unification.sh
# --workspace: the host crates, the end-to-end tests, and the guests' native unit tests.
# The output is kept to total the test results at the end; --no-fail-fast so
# one failing test binary does not hide the results of the others.
mkdir -p target
cargo test --release --workspace --no-fail-fast 2>&1 | tee target/test-output.txt
# 10 s per fuzz target (docs/FUZZING.md): a smoke run that keeps the suite
# under 30 minutes; longer runs are `./scripts/fuzz.sh 600`. Skips with a
# message where it cannot build.
./scripts/fuzz.sh 10
# One closing line for the whole suite (every `test result:` line added up).
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.txt

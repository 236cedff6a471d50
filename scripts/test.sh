#!/usr/bin/env bash
# Set up a fresh machine and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-unknown-unknown wasm32-wasip2
./scripts/build-guests.sh
cargo test --release --workspace --exclude ian-guest-sdk

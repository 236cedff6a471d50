#!/bin/sh
# Builds agent.wasm, an IAN agent component: the C sources and the C
# bindings of IAN's world in bindings/ (written by `ian-host new` with
# wit-bindgen {{wit_bindgen_version}}), compiled by clang for wasm32-wasi
# against wasi-libc, then encoded as a component by `ian-host componentize`.
#
# Needs clang and lld (14 or later), wasi-libc and clang's wasm32 runtime:
# on Debian `apt install clang lld wasi-libc libclang-rt-dev-wasm32`. Set
# CC to another clang, IAN_HOST to another ian-host.
set -eu
cd "$(dirname "$0")"
CC=${CC:-clang}
IAN_HOST=${IAN_HOST:-ian-host}
mkdir -p build
"$CC" --target=wasm32-wasi -O2 -mexec-model=reactor -Wall -Werror -Ibindings \
    -Wl,--strip-debug -o build/agent.core.wasm \
    agent.c momentum.c bindings/agent_pack.c bindings/agent_pack_component_type.o
"$IAN_HOST" componentize build/agent.core.wasm agent.wasm
echo "built agent.wasm ($(wc -c <agent.wasm) bytes)"
echo "pack it: ian-host pack agent.wasm --params lookback=10 --meta lang=c --meta toolchain=wit-bindgen-c/{{wit_bindgen_version}}+$("$CC" --version | head -n 1 | tr ' ' '-') --out agent.ianpack"

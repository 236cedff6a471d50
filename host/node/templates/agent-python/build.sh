#!/bin/sh
# Builds agent.wasm, an IAN agent component, with componentize-py (CPython
# compiled to WebAssembly), pinned in componentize-py.sh.
set -eu
cd "$(dirname "$0")"
. ./componentize-py.sh
"$componentize_py" -d wit -w ian:eval/agent-pack@0.1.0 componentize app -o agent.wasm
echo "built agent.wasm ($(wc -c <agent.wasm) bytes) with componentize-py $COMPONENTIZE_PY_VERSION"
echo "pack it: ian-host pack agent.wasm --params lookback=10 --meta lang=python --meta toolchain=componentize-py/$COMPONENTIZE_PY_VERSION --out agent.ianpack"

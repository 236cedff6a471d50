#!/bin/sh
# Builds agent.wasm, an IAN agent component, with componentize-py (CPython
# compiled to WebAssembly). The version is pinned: the same source and tool
# give the same component bytes, hence the same code hash.
#
# Uses `componentize-py` from PATH when it is this version, otherwise
# installs it into .venv/ with pip (PyPI).
set -eu
cd "$(dirname "$0")"
COMPONENTIZE_PY_VERSION={{componentize_py_version}}
tool=componentize-py
if ! "$tool" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
    if ! .venv/bin/componentize-py --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
        python3 -m venv .venv
        .venv/bin/pip install -q "componentize-py==$COMPONENTIZE_PY_VERSION"
    fi
    tool=.venv/bin/componentize-py
fi
"$tool" -d wit -w ian:eval/agent-pack@0.1.0 componentize app -o agent.wasm
echo "built agent.wasm ($(wc -c <agent.wasm) bytes) with componentize-py $COMPONENTIZE_PY_VERSION"
echo "pack it: ian-host pack agent.wasm --params lookback=10 --meta lang=python --meta toolchain=componentize-py/$COMPONENTIZE_PY_VERSION --out agent.ianpack"

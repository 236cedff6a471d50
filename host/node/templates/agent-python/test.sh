#!/bin/sh
# Runs the native tests: generates the Python bindings of the IAN world
# into .bindings/ (with the pinned componentize-py, see build.sh), then
# runs test_app.py with the machine's python3.
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
rm -rf .bindings
"$tool" -d wit -w ian:eval/agent-pack@0.1.0 bindings .bindings >/dev/null
PYTHONPATH=.bindings python3 -m unittest -v test_app

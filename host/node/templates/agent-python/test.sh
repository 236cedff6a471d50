#!/bin/sh
# Runs the native tests: generates the Python bindings of the IAN world
# into .bindings/ (with the pinned componentize-py), then runs test_app.py
# with the machine's python3.
set -eu
cd "$(dirname "$0")"
. ./componentize-py.sh
rm -rf .bindings
"$componentize_py" -d wit -w ian:eval/agent-pack@0.1.0 bindings .bindings >/dev/null
PYTHONPATH=.bindings python3 -m unittest -v test_app

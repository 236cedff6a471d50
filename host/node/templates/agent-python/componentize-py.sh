# Sourced by build.sh and test.sh: sets $componentize_py to componentize-py
# {{componentize_py_version}}, from PATH when it is that version, otherwise
# installed into .venv/ with pip (PyPI). The pinned version makes the same
# source give the same component bytes, hence the same code hash.
COMPONENTIZE_PY_VERSION={{componentize_py_version}}
componentize_py=componentize-py
if ! "$componentize_py" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
    componentize_py=.venv/bin/componentize-py
    if ! "$componentize_py" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
        python3 -m venv .venv
        .venv/bin/pip install -q "componentize-py==$COMPONENTIZE_PY_VERSION"
    fi
fi

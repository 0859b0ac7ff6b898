#!/usr/bin/env bash
# Builds the Python channel plugin(s) into WebAssembly components with componentize-py:
#   plugins-py/target/sms_example_py.wasm
#
# Needs only python3 (with venv) and PyPI. Idempotent: the venv is made and filled once (again
# when requirements.txt changes), and the component is rebuilt only when a source changed.
# Quiet unless something fails.
#
#   PYPLUGIN_VENV   where the venv lives (default: plugins-py/.venv)
#   PYTHON          the interpreter that makes it (default: python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
venv="${PYPLUGIN_VENV:-$here/.venv}"
wit="$here/../wit"
out="$here/target/sms_example_py.wasm"
export PYTHONDONTWRITEBYTECODE=1   # the native tests leave no __pycache__ behind

# 1. The toolchain: componentize-py, pinned, in its own venv.
if [[ ! -x "$venv/bin/python" ]]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
if ! cmp -s requirements.txt "$venv/.switchboard-requirements.txt"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
    cp requirements.txt "$venv/.switchboard-requirements.txt"
fi
componentize_py=("$venv/bin/componentize-py" --quiet --wit-path "$wit" --world channel-plugin)

# 2. Up to date? Then there is nothing to do.
if [[ -f "$out" ]] && [[ -z "$(find sms-example "$wit" requirements.txt build.sh -newer "$out" \
        -type f -print -quit)" ]]; then
    exit 0
fi
mkdir -p target

# 3. The plugin's logic, tested natively against the generated bindings (host imports stubbed).
rm -rf target/bindings
"${componentize_py[@]}" bindings target/bindings
if ! log="$(cd sms-example && PYTHONPATH="$here/target/bindings" \
        "$venv/bin/python" -m unittest --quiet 2>&1)"; then
    printf '%s\n' "$log" >&2
    exit 1
fi

# 4. The component: CPython, the standard library and the app, pre-initialized (the app's modules
#    are imported at build time). The app is staged apart from its tests, since the build writes
#    __pycache__ where the sources are, and written aside so that a failure leaves no half file.
rm -rf target/app && mkdir target/app
find sms-example -maxdepth 1 -name '*.py' ! -name 'test_*' -exec cp {} target/app/ \;
"${componentize_py[@]}" componentize --python-path target/app --output "$out.partial" app
mv "$out.partial" "$out"

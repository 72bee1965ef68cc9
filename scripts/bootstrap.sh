#!/usr/bin/env bash
# Builds one of the two virtualenvs from its lock file, with uv.
#   scripts/bootstrap.sh orchestration   -> .venv           (Python 3.11, requirements-local.lock)
#   scripts/bootstrap.sh pipeline        -> .venv-pipeline  (Python 3.10, pipeline/requirements.lock)
#   scripts/bootstrap.sh serving         -> .venv-serving   (Python 3.11, serving/requirements.lock)
# A stamp inside the venv holds the hash of the lock and the interpreter; when both
# are unchanged, re-running is a no-op. `uv pip sync` installs exactly the lock.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS_DIR="${CT_TOOLS_DIR:-$HOME/.cache/ct-tools}"
UV_VERSION="0.13.8"
export UV_CACHE_DIR="${UV_CACHE_DIR:-$HOME/.cache/uv}"   # outside the clone: CI reuses it

die() { echo "bootstrap: $*" >&2; exit 1; }

find_uv() {
  if command -v uv >/dev/null 2>&1; then command -v uv; return; fi
  if [ ! -x "$TOOLS_DIR/venv/bin/uv" ]; then
    echo "bootstrap: installing uv $UV_VERSION into $TOOLS_DIR (once)" >&2
    mkdir -p "$TOOLS_DIR"
    python3 -m venv "$TOOLS_DIR/venv" >&2
    "$TOOLS_DIR/venv/bin/pip" install -q "uv==$UV_VERSION" >&2
  fi
  echo "$TOOLS_DIR/venv/bin/uv"
}

# find_python MAJOR.MINOR OVERRIDE_VAR: $OVERRIDE_VAR, else pythonX.Y on PATH, else pyenv.
find_python() {
  local want="$1" var="$2" candidate
  local override="${!var:-}"
  if [ -n "$override" ]; then
    "$override" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$want'.split('.')))" 2>/dev/null \
      || die "$var=$override is not a working Python $want"
    echo "$override"; return
  fi
  if candidate="$(command -v "python$want" 2>/dev/null)" && "$candidate" -c "" 2>/dev/null; then
    # resolve pyenv shims to the real interpreter so the stamp is stable
    "$candidate" -c "import sys; print(sys.executable)"; return
  fi
  if command -v pyenv >/dev/null 2>&1; then
    for candidate in $(ls -d "$(pyenv root)/versions/$want".* 2>/dev/null | sort -V -r); do
      if [ -x "$candidate/bin/python" ]; then echo "$candidate/bin/python"; return; fi
    done
  fi
  die "no Python $want found: install it (e.g. 'pyenv install $want') or set $var=/path/to/python$want"
}

build() {
  local venv="$1" python="$2" lock="$3"
  local uv; uv="$(find_uv)"
  local stamp="$venv/.ct-stamp"
  local want; want="$( (cat "$lock"; echo "$python"; "$python" -V 2>&1) | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "bootstrap: $venv is up to date ($lock unchanged)"; return
  fi
  echo "bootstrap: building $venv from $lock with $python"
  rm -f "$stamp"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')'.split('.'))))"; then
    rm -rf "$venv"
    "$uv" venv -q --python "$python" "$venv"
  fi
  "$uv" pip sync -q --python "$venv/bin/python" "$lock"
  echo "$want" > "$stamp"
}

case "${1:-}" in
  orchestration) build .venv "$(find_python 3.11 PYTHON311)" requirements-local.lock ;;
  pipeline)      build .venv-pipeline "$(find_python 3.10 PYTHON310)" pipeline/requirements.lock ;;
  serving)       build .venv-serving "$(find_python 3.11 PYTHON311)" serving/requirements.lock ;;
  uv)            find_uv ;;
  *) die "usage: $0 orchestration|pipeline|serving|uv" ;;
esac

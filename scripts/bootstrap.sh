#!/usr/bin/env bash
# Creates .venv with Python 3.10 and installs exactly requirements.lock plus this project;
# then .venv-bqemulator with Python 3.11 and exactly tests/bqemulator/requirements.lock, the
# BigQuery emulator that tests/test_bigquery_emulator.py starts (it needs Python >= 3.11).
# Idempotent: each venv keeps a stamp of the files it was installed from (this script
# included); when they have not changed it returns in well under a second without touching
# the network.
#
# Both venvs are installed with their bytecode compiled (--compile-bytecode, about 30 s
# once): uv writes none by default, and where PYTHONDONTWRITEBYTECODE is set (as on this
# project's machines) Python never writes it either, so every process compiled the source
# of everything it imported again: 25 of the 38 s that `vertex_runner.py compile` took,
# and most of `import tensorflow`. Each pipeline step, model server and test process
# starts that much sooner.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
EMULATOR_VENV="$ROOT/.venv-bqemulator"
EMULATOR_DIR="$ROOT/tests/bqemulator"
UV_VERSION="0.13.8"

find_python() {  # $1: the wanted major.minor version, e.g. 3.10
  local version="$1" candidate
  for candidate in "python$version" "${PYENV_ROOT:-}/versions/$version"*/bin/"python$version"; do
    if command -v "$candidate" >/dev/null 2>&1 \
        && "$candidate" -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != sys.argv[1])' \
          "$version" 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for candidate in "$(pyenv root)/versions/$version"*/bin/"python$version"; do
      if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
    done
  fi
  echo "bootstrap: Python $version not found on PATH or under pyenv; install it (e.g." \
    "'pyenv install $version')." >&2
  return 1
}

hash_of() {
  cat "$@" | sha256sum | cut -d' ' -f1
}

up_to_date() {  # $1: a venv, $2: the stamp it should carry
  [ -f "$1/.installed-from" ] && [ "$(cat "$1/.installed-from")" = "$2" ] \
    && [ -x "$1/bin/python" ]
}

# Graphviz renders `lineage.py graph` as SVG or PNG; MariaDB serves the tests of a team's
# shared metadata store (metadata_connection=mysql://..., tests/mariadb.py starts a server
# of its own on loopback). Both are Debian's packages (root needed), installed by one apt
# run in the background while the venvs install (one after the other they took 25 s on a
# new machine; in the background Graphviz alone added 6.8 s to a 44 s bootstrap, not 11).
# Not fatal: only the picture export and the shared-store tests need them, and those tests
# then say what is missing.
MISSING_PACKAGES=()
command -v dot >/dev/null 2>&1 || MISSING_PACKAGES+=(graphviz)
command -v mariadbd >/dev/null 2>&1 || MISSING_PACKAGES+=(mariadb-server)
APT_JOB=""
if [ "${#MISSING_PACKAGES[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing ${MISSING_PACKAGES[*]}" >&2
    { { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${MISSING_PACKAGES[@]}" >/dev/null; } \
      || echo "bootstrap: could not install ${MISSING_PACKAGES[*]}: lineage.py graph needs" \
        "Graphviz for SVG/PNG, the shared-store tests need MariaDB." >&2; } &
    APT_JOB=$!
  else
    echo "bootstrap: ${MISSING_PACKAGES[*]} missing; install them (apt-get install" \
      "${MISSING_PACKAGES[*]}): lineage.py graph --format=svg|png needs Graphviz, the" \
      "shared-store tests need MariaDB." >&2
  fi
fi

WANTED="$(hash_of "$ROOT/requirements.lock" "$ROOT/pyproject.toml" "${BASH_SOURCE[0]}")"
if ! up_to_date "$VENV" "$WANTED"; then
  PYTHON="$(find_python 3.10)"
  echo "bootstrap: using $PYTHON" >&2
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # uv installs the ~250 pinned wheels in parallel, several times faster than pip.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip sync --quiet --compile-bytecode \
    --python "$VENV/bin/python" "$ROOT/requirements.lock"
  VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install --quiet --compile-bytecode \
    --python "$VENV/bin/python" --no-deps -e "$ROOT"
  echo "$WANTED" > "$VENV/.installed-from"
  echo "bootstrap: .venv ready" >&2
fi

WANTED="$(hash_of "$EMULATOR_DIR/requirements.lock" "$EMULATOR_DIR/install_spatial.py" \
  "${BASH_SOURCE[0]}")"
if ! up_to_date "$EMULATOR_VENV" "$WANTED"; then
  PYTHON="$(find_python 3.11)"
  echo "bootstrap: using $PYTHON for .venv-bqemulator" >&2
  "$VENV/bin/uv" venv --quiet --clear --python "$PYTHON" "$EMULATOR_VENV"
  "$VENV/bin/uv" pip sync --quiet --compile-bytecode --python "$EMULATOR_VENV/bin/python" \
    "$EMULATOR_DIR/requirements.lock"
  # The tests start the server with this HOME, where DuckDB finds the extension offline.
  mkdir -p "$EMULATOR_VENV/home"
  HOME="$EMULATOR_VENV/home" "$EMULATOR_VENV/bin/python" "$EMULATOR_DIR/install_spatial.py"
  echo "$WANTED" > "$EMULATOR_VENV/.installed-from"
  echo "bootstrap: .venv-bqemulator ready" >&2
fi

# The apt job never fails the bootstrap (its failure is reported above).
[ -z "$APT_JOB" ] || wait "$APT_JOB"

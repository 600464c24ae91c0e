# Sourced by scripts/test and scripts/examples.sh. Helpers for the provision scripts.

# Where provisioned tools live: under the cargo target directory, so a clean
# clone provisions once and `cargo clean` starts over.
WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-$(realpath -m "${CARGO_TARGET_DIR:-target}")/tools}"
export WARD_TOOLS_DIR
mkdir -p "$WARD_TOOLS_DIR"

# Install Debian packages that are missing (root, or sudo when available).
ward_apt_install() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "error: need Debian packages $* and cannot install them (not root, no sudo)" >&2
      return 1
    fi
  fi
  echo "provision: apt-get install $*" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# A Python virtual environment under $WARD_TOOLS_DIR/NAME with the given pip
# requirements; prints nothing, sets no variable (callers export the path).
ward_venv() {
  local name=$1; shift
  local dir="$WARD_TOOLS_DIR/$name"
  local stamp="$dir/.requirements"
  if [ ! -x "$dir/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$*" ]; then
    echo "provision: python venv $dir ($*)" >&2
    rm -rf "$dir"
    python3 -m venv "$dir" 2>/dev/null || { ward_apt_install python3-venv && python3 -m venv "$dir"; }
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@"
    echo "$*" > "$stamp"
  fi
}

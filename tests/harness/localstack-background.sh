# shellcheck shell=bash
# Sourced (not run) by tests/harness/pave-on-localstack and tests/run: LocalStack's install and
# start-up (tests/harness/localstack.sh start) run in the background while the caller builds
# cfcr-aws in the foreground, instead of one after the other. The caller must not enable job control
# (set -m): the background start must not be a process group leader when it calls setsid.
#
#   localstack_bg_start PORT   start `localstack.sh start PORT` in a session of its own. Its output
#                              goes to .cache/localstack/run-PORT/start.log, not the terminal; one
#                              line says when LocalStack is ready, or that it failed.
#   localstack_bg_wait         wait for it; set localstack_endpoint, or say why it failed (the end
#                              of its output and where both logs are) and return 1.
#   localstack_bg_keep         the caller now uses LocalStack: localstack_bg_cleanup leaves it running.
#   localstack_bg_cleanup      for the caller's EXIT trap: end a start still under way (with the
#                              install it is running), and stop a LocalStack this start launched
#                              unless localstack_bg_keep was called. One already running is left.
#
# Messages start with $localstack_bg_who (default: the caller's file name).

localstack_bg_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
localstack_bg_who=${localstack_bg_who:-${0##*/}}
localstack_bg_job=
localstack_bg_kept=
localstack_bg_run=

localstack_bg_start() {
  localstack_bg_port=$1
  localstack_bg_run=${CFCR_AWS_CACHE:-$localstack_bg_root/.cache}/localstack/run-$1
  mkdir -p "$localstack_bg_run"
  localstack_bg_log=$localstack_bg_run/start.log
  localstack_bg_url=$localstack_bg_run/start.url
  rm -f "$localstack_bg_url"
  # The pid file localstack.sh writes when it launches LocalStack: a new one means this start did.
  localstack_bg_pid_before=$(cat "$localstack_bg_run/pid" 2>/dev/null || true)
  # On a terminal the line replaces cargo's progress bar, which cargo redraws below it.
  local clear=
  if [[ -t 2 ]]; then
    clear=$'\r\e[K'
  fi
  # shellcheck disable=SC2016 # the inner script's own arguments
  setsid bash -c '
    if "$1" start "$2" >"$3" 2>"$4" </dev/null; then
      printf "%s%s: LocalStack is ready at %s\n" "$5" "$6" "$(cat "$3")" >&2
    else
      status=$?
      printf "%s%s: LocalStack failed to start; see %s\n" "$5" "$6" "$4" >&2
      exit "$status"
    fi' localstack-bg "$localstack_bg_root/tests/harness/localstack.sh" "$1" "$localstack_bg_url" \
    "$localstack_bg_log" "$clear" "$localstack_bg_who" </dev/null &
  localstack_bg_job=$!
}

localstack_bg_wait() {
  if kill -0 "$localstack_bg_job" 2>/dev/null; then
    echo "$localstack_bg_who: waiting for LocalStack to start (its output: $localstack_bg_log)" >&2
  fi
  local status=0
  wait "$localstack_bg_job" || status=$?
  localstack_bg_job=
  if ((status != 0)); then
    {
      echo "$localstack_bg_who: LocalStack did not start (localstack.sh start $localstack_bg_port exited $status); the end of its output:"
      tail -n 25 "$localstack_bg_log" | sed 's/^/  /'
      echo "$localstack_bg_who: its whole output: $localstack_bg_log"
      echo "$localstack_bg_who: LocalStack's own log: $localstack_bg_run/localstack.log"
    } >&2
    return 1
  fi
  # shellcheck disable=SC2034 # the caller's
  localstack_endpoint=$(cat "$localstack_bg_url")
}

localstack_bg_keep() {
  localstack_bg_kept=1
}

localstack_bg_cleanup() {
  if [[ -n $localstack_bg_job ]]; then
    # Its process group: localstack.sh and whatever it runs (pip, uv, the readiness probe).
    kill -TERM -- "-$localstack_bg_job" 2>/dev/null || true
    wait "$localstack_bg_job" 2>/dev/null || true
    localstack_bg_job=
  fi
  if [[ -z $localstack_bg_kept && -n $localstack_bg_run ]]; then
    local pid
    pid=$(cat "$localstack_bg_run/pid" 2>/dev/null || true)
    if [[ -n $pid && $pid != "$localstack_bg_pid_before" ]]; then
      if kill -0 "$pid" 2>/dev/null; then
        echo "$localstack_bg_who: stopping the LocalStack it started on port $localstack_bg_port" >&2
      fi
      "$localstack_bg_root/tests/harness/localstack.sh" stop "$localstack_bg_port"
    fi
  fi
}

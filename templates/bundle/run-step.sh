#!/usr/bin/env bash
# Runs one hand-off step, streaming its output and appending it to logs/<step>.log.
# Usage: run-step.sh STEP [ARGS...]   (STEP is a script in this directory, without .sh)
# Its status is the step's (pipefail: tee does not hide a failure).
set -euo pipefail
cd "$(dirname "$0")"
step=$1
shift
mkdir -p logs
echo "=== $step $(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"logs/$step.log"
"./$step.sh" "$@" 2>&1 | tee -a "logs/$step.log"

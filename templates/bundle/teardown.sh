#!/usr/bin/env bash
# Removes what the hand-off created, before cfcr-aws deletes the infrastructure.
# Usage: teardown.sh [--deployment] [--clean-up]
#   --deployment  delete the "cfcr" deployment first
#   --clean-up    delete the director's releases, stemcells and orphaned disks
# The director itself is always deleted, with the arguments it was created with.
set -euo pipefail
cd "$(dirname "$0")"
source ./env.sh
source ./director-args.sh
for option in "$@"; do
  case $option in
    --deployment | --clean-up) ;;
    *) echo "teardown.sh: unknown option $option" >&2; exit 2 ;;
  esac
done
if [[ " $* " == *" --deployment "* || " $* " == *" --clean-up "* ]]; then
  source ./bosh-aws-env.sh
fi
if [[ " $* " == *" --deployment "* ]]; then
  bosh -n -d cfcr delete-deployment
fi
if [[ " $* " == *" --clean-up "* ]]; then
  bosh -n clean-up --all
fi
bosh -n delete-env "${director_args[@]}"

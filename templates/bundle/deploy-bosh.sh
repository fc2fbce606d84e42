#!/usr/bin/env bash
# Creates the BOSH director "bosh-aws" in the private subnet.
set -euo pipefail
cd "$(dirname "$0")"
source ./env.sh
source ./director-args.sh
bosh create-env "${director_args[@]}"

#!/usr/bin/env bash
# Applies the add-ons in specs/ (the default gp2 StorageClass, ...) to the cluster.
set -euo pipefail
cd "$(dirname "$0")"
source ./env.sh
source ./bosh-aws-env.sh
bosh -n -d cfcr run-errand apply-addons

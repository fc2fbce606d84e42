#!/usr/bin/env bash
# Uploads the stemcell that kubo-deployment's manifest asks for.
set -euo pipefail
cd "$(dirname "$0")"
source ./env.sh
source ./bosh-aws-env.sh
os=$(bosh int kubo-deployment/manifests/cfcr.yml --path /stemcells/0/os)
version=$(bosh int kubo-deployment/manifests/cfcr.yml --path /stemcells/0/version)
bosh -n upload-stemcell "https://bosh.io/d/stemcells/bosh-aws-xen-hvm-$os-go_agent?v=$version"

#!/usr/bin/env bash
# Sets the director's configs: the project's cloud config (zone, private subnet, VM types), and
# bosh-deployment's BOSH DNS as a runtime config (cfcr.yml resolves its jobs by DNS:
# features.use_dns_addresses). Nothing of kubo's: the director alone needs it too.
set -euo pipefail
cd "$(dirname "$0")"
source ./env.sh
source ./bosh-aws-env.sh
bosh -n update-cloud-config cloud-config.yml \
  -v az={{ zone }} \
  -v internal_cidr={{ internal_cidr }} \
  -v internal_gw={{ internal_gw }} \
  -v internal_ip={{ internal_ip }} \
  -v dns_recursor_ip={{ dns_recursor_ip }} \
  -v subnet_id={{ private_subnet_id }}
bosh -n update-runtime-config --name dns bosh-deployment/runtime-configs/dns.yml

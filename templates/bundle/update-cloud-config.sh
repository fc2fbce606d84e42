#!/usr/bin/env bash
# Sets the director's configs: the project's cloud config (zone, private subnet, VM types), kubo's
# vm_extensions as a named cloud config (the instance profiles and the master load balancer), and
# BOSH DNS as a runtime config (cfcr.yml resolves its jobs by DNS: features.use_dns_addresses).
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
bosh -n update-config --type cloud --name cfcr \
  kubo-deployment/manifests/cloud-config/iaas/aws/use-vm-extensions.yml \
  -v deployment_name=cfcr \
  -v master_iam_instance_profile={{ master_iam_instance_profile }} \
  -v worker_iam_instance_profile={{ worker_iam_instance_profile }} \
  -v cfcr_master_target_pool={{ cfcr_master_target_pool }}
bosh -n update-runtime-config --name dns bosh-deployment/runtime-configs/dns.yml

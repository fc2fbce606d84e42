#!/usr/bin/env bash
# Sets the director's cloud config: kubo's AWS cloud config with the VM types CFCR's manifest names
# and the master load balancer as a VM extension.
set -euo pipefail
cd "$(dirname "$0")"
source ./env.sh
source ./bosh-aws-env.sh
bosh -n update-cloud-config kubo-deployment/configurations/aws/cloud-config.yml \
  -o ops-files/cloud-config-vm-types.yml \
  -o ops-files/cloud-config-master-lb.yml \
  -v az={{ zone }} \
  -v master_iam_instance_profile={{ master_iam_instance_profile }} \
  -v worker_iam_instance_profile={{ worker_iam_instance_profile }} \
  -v internal_cidr={{ internal_cidr }} \
  -v internal_gw={{ internal_gw }} \
  -v dns_recursor_ip={{ dns_recursor_ip }} \
  -v subnet_id={{ private_subnet_id }} \
  -v master_target_pool={{ cfcr_master_target_pool }}

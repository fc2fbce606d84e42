#!/usr/bin/env bash
# Deploys CFCR (the "cfcr" deployment) with kubo-deployment's own files: its vm_extensions as a
# named cloud config (the instance profiles, the master load balancer), then cfcr.yml with one
# zone, one master, the configured workers, those vm_extensions, the AWS cloud provider and cluster
# tags, the load balancer's name in the API certificate, and the source releases (cfcr.yml's own
# are compiled for ubuntu-xenial 621 only).
set -euo pipefail
cd "$(dirname "$0")"
source ./env.sh
source ./bosh-aws-env.sh
bosh -n update-config --type cloud --name cfcr \
  kubo-deployment/manifests/cloud-config/iaas/aws/use-vm-extensions.yml \
  -v deployment_name=cfcr \
  -v master_iam_instance_profile={{ master_iam_instance_profile }} \
  -v worker_iam_instance_profile={{ worker_iam_instance_profile }} \
  -v cfcr_master_target_pool={{ cfcr_master_target_pool }}
# The add-ons: every spec in specs/, as one multi-document YAML.
awk 'FNR == 1 && NR != 1 { print "---" } { print }' specs/*.yml >addons-spec.yml
bosh -n -d cfcr deploy kubo-deployment/manifests/cfcr.yml \
  -o kubo-deployment/manifests/ops-files/misc/scale-to-one-az.yml \
  -o kubo-deployment/manifests/ops-files/worker_count.yml \
  -o kubo-deployment/manifests/ops-files/use-vm-extensions.yml \
  -o kubo-deployment/manifests/ops-files/iaas/aws/cloud-provider.yml \
  -o kubo-deployment/manifests/ops-files/iaas/aws/lb.yml \
  -o kubo-deployment/manifests/ops-files/add-hostname-to-master-certificate.yml \
  -o kubo-deployment/manifests/ops-files/non-precompiled-releases.yml \
  -o kubo-deployment/manifests/ops-files/addons-spec.yml \
  -o ops-files/releases-from-mirror.yml \
  -o ops-files/kubo-release.yml \
{%- if cfcr_stemcell %}
  -o ops-files/cfcr-stemcell.yml \
{%- endif %}
  --var-file=addons-spec=addons-spec.yml \
  -v deployment_name=cfcr \
  -v worker_count={{ worker_count }} \
  -v kubernetes_cluster_tag={{ kubernetes_cluster_tag }} \
  -v api-hostname={{ master_lb_ip_address }}

#!/usr/bin/env bash
# Deploys CFCR (the "cfcr" deployment) behind the master load balancer.
set -euo pipefail
cd "$(dirname "$0")"
source ./env.sh
source ./bosh-aws-env.sh
# The add-ons: every spec in specs/, as one multi-document YAML.
awk 'FNR == 1 && NR != 1 { print "---" } { print }' specs/*.yml >addons-spec.yml
bosh -n -d cfcr deploy kubo-deployment/manifests/cfcr.yml \
  -o kubo-deployment/manifests/ops-files/addons-spec.yml \
  -o kubo-deployment/manifests/ops-files/iaas/aws/lb.yml \
  -o kubo-deployment/manifests/ops-files/iaas/aws/cloud-provider.yml \
  -o ops-files/kubo-release.yml \
  -o ops-files/worker-count.yml \
  -o ops-files/master-lb.yml \
{%- if cfcr_stemcell %}
  -o ops-files/cfcr-stemcell.yml \
{%- endif %}
  --var-file=addons-spec=addons-spec.yml \
  -v kubernetes_cluster_tag={{ kubernetes_cluster_tag }} \
  -v kubernetes_master_host={{ master_lb_ip_address }}

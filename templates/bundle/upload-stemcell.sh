#!/usr/bin/env bash
{%- if cfcr_stemcell %}
# Uploads the operator's stemcell for the cluster (cfcr_stemcell_* in the config).
{%- else %}
# Uploads the stemcell that kubo-deployment's manifest asks for.
{%- endif %}
set -euo pipefail
cd "$(dirname "$0")"
source ./env.sh
source ./bosh-aws-env.sh
{%- if cfcr_stemcell and cfcr_stemcell_local %}
# cfcr-aws uploaded the tarball beside this script.
bosh -n upload-stemcell cfcr-stemcell.tgz --sha1 {{ cfcr_stemcell.sha1 }}
{%- elif cfcr_stemcell %}
{%- if downloads_mirror %}
url='{{ downloads_mirror }}/{{ cfcr_stemcell.url | split("/") | last }}'
{%- else %}
url='{{ cfcr_stemcell.url }}'
{%- endif %}
# Checked first, from here: the director downloads it from the same network.
if ! curl -fsSL --head --retry 3 -o /dev/null "$url"; then
  echo "the stemcell URL is not reachable from the bastion: $url" >&2
  exit 1
fi
bosh -n upload-stemcell "$url" --sha1 {{ cfcr_stemcell.sha1 }}
{%- else %}
os=$(bosh int kubo-deployment/manifests/cfcr.yml --path /stemcells/0/os)
version=$(bosh int kubo-deployment/manifests/cfcr.yml --path /stemcells/0/version)
{%- if downloads_mirror %}
bosh -n upload-stemcell "{{ downloads_mirror }}/light-bosh-stemcell-$version-aws-xen-hvm-$os-go_agent.tgz"
{%- else %}
bosh -n upload-stemcell "https://bosh.io/d/stemcells/bosh-aws-xen-hvm-$os-go_agent?v=$version"
{%- endif %}
{%- endif %}

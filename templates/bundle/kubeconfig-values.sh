#!/usr/bin/env bash
# Prints, as two JSON documents, the cluster's CA and the admin token: what `cfcr-aws kubeconfig`
# needs. Run by cfcr-aws; its output is never logged.
set -euo pipefail
cd "$(dirname "$0")"
source ./env.sh
source ./credhub-login.sh
credhub get -n /bosh-aws/cfcr/tls-kubernetes --output-json
credhub get -n /bosh-aws/cfcr/kubo-admin-password --output-json

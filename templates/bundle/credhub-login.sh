# Targets the director's CredHub: sourced by scripts and operators. The CLI authenticates from these
# variables on each command, so the client secret never appears on a command line.
source "$(dirname "${BASH_SOURCE[0]}")/bosh-aws-env.sh"
export CREDHUB_SERVER=https://{{ internal_ip }}:8844
export CREDHUB_CLIENT=credhub-admin
CREDHUB_SECRET=$(bosh int bosh-aws-creds.yml --path /credhub_admin_client_secret)
CREDHUB_CA_CERT="$(bosh int bosh-aws-creds.yml --path /credhub_tls/ca)
$(bosh int bosh-aws-creds.yml --path /uaa_ssl/ca)"
export CREDHUB_SECRET CREDHUB_CA_CERT

# Targets the director: sourced by the scripts that talk to it (and by operators: `source` it).
export BOSH_CLIENT=bosh_admin
BOSH_CLIENT_SECRET=$(bosh int bosh-aws-creds.yml --path /bosh_admin_client_secret)
BOSH_CA_CERT=$(bosh int bosh-aws-creds.yml --path /director_ssl/ca)
export BOSH_CLIENT_SECRET BOSH_CA_CERT
export BOSH_ENVIRONMENT={{ internal_ip }}

# Targets the director: sourced by the scripts that talk to it (and by operators: `source` it).
# The director's own UAA client "admin" (bosh-deployment's uaa.yml), its secret from the vars store.
export BOSH_CLIENT=admin
BOSH_CLIENT_SECRET=$(bosh int bosh-aws-creds.yml --path /admin_password)
BOSH_CA_CERT=$(bosh int bosh-aws-creds.yml --path /director_ssl/ca)
export BOSH_CLIENT_SECRET BOSH_CA_CERT
export BOSH_ENVIRONMENT={{ internal_ip }}

# The arguments of `bosh create-env` (deploy-bosh.sh) and `bosh delete-env` (teardown.sh): one list,
# so that teardown deletes exactly the director that was created. bosh-deployment alone, and the
# project's own ops-files: the director's size, IMDSv2, its tags.
# shellcheck disable=SC2034 # deploy-bosh.sh and teardown.sh source this file and use it
director_args=(
  bosh-deployment/bosh.yml
  --state=bosh-aws-state.json
  --vars-store=bosh-aws-creds.yml
  -o bosh-deployment/aws/cpi.yml
  -o bosh-deployment/uaa.yml
  -o bosh-deployment/credhub.yml
  -o bosh-deployment/jumpbox-user.yml
  -o ops-files/director-size-aws.yml
  -o ops-files/imdsv2.yml
  -o ops-files/director-tags.yml
{%- if director_credentials == "instance-profile" %}
  -o bosh-deployment/aws/cli-iam-instance-profile.yml
  -o bosh-deployment/aws/iam-instance-profile.yml
  -v iam_instance_profile={{ director_iam_instance_profile }}
{%- else %}
  --var-env=director_var
{%- endif %}
  -v director_name=bosh-aws
  -v internal_cidr={{ internal_cidr }}
  -v internal_gw={{ internal_gw }}
  -v internal_ip={{ internal_ip }}
  -v region={{ region }}
  -v az={{ zone }}
  -v default_key_name={{ default_key_name }}
  -v "default_security_groups=[{{ default_security_groups | join(",") }}]"
  -v subnet_id={{ private_subnet_id }}
)
{%- if director_credentials == "access-key" %}

# The director's access key, only for the steps that create or delete the director (the two that
# source this file); it reaches bosh through the environment (--var-env), never its command line.
export director_var_access_key_id={{ aws_access_key_id }}
export director_var_secret_access_key={{ aws_secret_access_key }}
{%- endif %}

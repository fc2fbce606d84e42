# Environment {{ prefix }}, rendered by cfcr-aws: the variables the bastion used to get from
# /etc/profile.d/bosh.sh. Sourced by every script in this directory.
export prefix={{ prefix }}
export region={{ region }}
export zone={{ zone }}
export vpc_id={{ vpc_id }}
export vpc_cidr={{ vpc_cidr }}
export public_subnet_id={{ public_subnet_id }}
export private_subnet_id={{ private_subnet_id }}
export private_subnet_ip_prefix={{ private_subnet_ip_prefix or "" }}
export private_subnet_cidr={{ private_subnet_cidr }}
export default_security_groups="[{{ default_security_groups | join(",") }}]"
export default_key_name={{ default_key_name }}
export kubernetes_cluster_tag={{ kubernetes_cluster_tag }}
export master_lb_ip_address={{ master_lb_ip_address }}
export PATH="$HOME/bin:$PATH"

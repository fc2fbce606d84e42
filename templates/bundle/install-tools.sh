#!/usr/bin/env bash
# Installs what the hand-off needs on the bastion, each only when missing: the packages bosh
# create-env compiles with, the bosh and credhub CLIs and kubectl (checksums verified) in ~/bin,
# whatever else the machine has on its PATH, and bosh-deployment and kubo-deployment at pinned refs.
set -euo pipefail
cd "$(dirname "$0")"
source ./env.sh
mkdir -p "$HOME/bin"

# What bosh's documentation lists for compiling the AWS CPI on the machine that runs create-env.
packages=(build-essential zlib1g-dev ruby ruby-dev openssl libxslt1-dev libxml2-dev libssl-dev
  libreadline-dev libyaml-dev libsqlite3-dev sqlite3 git curl)
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  sudo apt-get update -q
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
fi

{%- if downloads_mirror %}
# Everything from the mirror (downloads_mirror), under the upstream file names.
source_url() { echo "{{ downloads_mirror }}/$(basename "$1")"; }
{%- else %}
source_url() { echo "$1"; }
{%- endif %}

# Downloads land in a directory of this run's own, removed on exit: a file another user left in
# /tmp cannot break a step, nor be swapped between its checksum and its install.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# download URL ALGORITHM SUM FILE: fails unless FILE's checksum (sha256 or sha512) is SUM.
download() {
  curl -fsSL --retry 5 -o "$4" "$(source_url "$1")"
  if ! echo "$3  $4" | "$2sum" --check --quiet - 2>/dev/null; then
    echo "checksum mismatch for $(source_url "$1"): expected $2 $3" >&2
    rm -f "$4"
    return 1
  fi
}

if [[ ! -x $HOME/bin/bosh ]]; then
  download "https://github.com/cloudfoundry/bosh-cli/releases/download/v{{ bosh_cli_version }}/bosh-cli-{{ bosh_cli_version }}-linux-amd64" \
    sha256 {{ bosh_cli_sha256 }} "$work/bosh"
  install -m 0755 "$work/bosh" "$HOME/bin/bosh"
fi

if [[ ! -x $HOME/bin/credhub ]]; then
  download "https://github.com/cloudfoundry/credhub-cli/releases/download/{{ credhub_cli_version }}/credhub-linux-amd64-{{ credhub_cli_version }}.tgz" \
    sha256 {{ credhub_cli_sha256 }} "$work/credhub.tgz"
  tar -xzf "$work/credhub.tgz" -C "$work" credhub
  install -m 0755 "$work/credhub" "$HOME/bin/credhub"
fi

# kubectl from the client tarball, whose SHA-512 the Kubernetes CHANGELOG publishes for every
# release (dl.k8s.io has .sha256 files only from v1.16).
if [[ ! -x $HOME/bin/kubectl ]]; then
  download "https://dl.k8s.io/{{ kubectl_version }}/kubernetes-client-linux-amd64.tar.gz" \
    sha512 {{ kubectl_sha512 }} "$work/kubernetes-client.tar.gz"
  tar -xzf "$work/kubernetes-client.tar.gz" -C "$work" kubernetes/client/bin/kubectl
  install -m 0755 "$work/kubernetes/client/bin/kubectl" "$HOME/bin/kubectl"
fi

# checkout DIR URL REF: a clone of URL in DIR at REF.
checkout() {
  if [[ ! -d $1 ]]; then
    git clone --quiet "$2" "$1"
  fi
  git -C "$1" checkout --quiet "$3"
}
checkout bosh-deployment https://github.com/cloudfoundry/bosh-deployment {{ bosh_deployment_ref }}
checkout kubo-deployment https://github.com/cloudfoundry-incubator/kubo-deployment {{ kubo_deployment_ref }}

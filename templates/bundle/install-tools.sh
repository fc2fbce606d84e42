#!/usr/bin/env bash
# Installs what the hand-off needs on the bastion, each only when missing: the packages bosh
# create-env compiles with, the bosh and credhub CLIs and kubectl (checksums verified), and
# bosh-deployment and kubo-deployment at pinned refs.
set -euo pipefail
cd "$(dirname "$0")"
source ./env.sh
mkdir -p "$HOME/bin"

if ! dpkg -s build-essential ruby zlib1g-dev libssl-dev >/dev/null 2>&1; then
  sudo apt-get update -q
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q build-essential ruby ruby-dev \
    zlib1g-dev libssl-dev libxml2-dev libxslt1-dev libreadline-dev libyaml-dev libsqlite3-dev \
    sqlite3 openssl git curl
fi

# download URL SHA256 FILE: fails unless the file's SHA-256 is the one expected.
download() {
  curl -fsSL --retry 5 -o "$3" "$1"
  echo "$2  $3" | sha256sum --check --quiet -
}

if ! command -v bosh >/dev/null; then
  download "https://github.com/cloudfoundry/bosh-cli/releases/download/v{{ bosh_cli_version }}/bosh-cli-{{ bosh_cli_version }}-linux-amd64" \
    {{ bosh_cli_sha256 }} /tmp/bosh
  install -m 0755 /tmp/bosh "$HOME/bin/bosh"
fi

if ! command -v credhub >/dev/null; then
  download "https://github.com/cloudfoundry/credhub-cli/releases/download/{{ credhub_cli_version }}/credhub-linux-amd64-{{ credhub_cli_version }}.tgz" \
    {{ credhub_cli_sha256 }} /tmp/credhub.tgz
  tar -xzf /tmp/credhub.tgz -C "$HOME/bin" credhub
fi

if ! command -v kubectl >/dev/null; then
  url=https://dl.k8s.io/release/{{ kubectl_version }}/bin/linux/amd64/kubectl
{%- if kubectl_sha256 %}
  sum={{ kubectl_sha256 }}
{%- else %}
  sum=$(curl -fsSL --retry 5 "$url.sha256")
{%- endif %}
  download "$url" "$sum" /tmp/kubectl
  install -m 0755 /tmp/kubectl "$HOME/bin/kubectl"
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

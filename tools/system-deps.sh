#!/usr/bin/env bash
# Debian packages the tests need: bubblewrap (the grading sandbox) and chromium (the browser tests).
# Installs what is missing when run as root; otherwise says what to install.
set -euo pipefail
needed=()
command -v bwrap >/dev/null || needed+=(bubblewrap)
command -v chromium >/dev/null || needed+=(chromium)
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${needed[*]}; install them with: sudo apt-get install ${needed[*]}" >&2
    exit 1
fi
echo "installing system packages: ${needed[*]}"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${needed[@]}"

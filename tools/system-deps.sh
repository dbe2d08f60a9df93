#!/usr/bin/env bash
# Debian packages the build and tests need: bubblewrap (the grading sandbox), chromium (the browser
# tests, driven by Playwright's client; no browser is downloaded), postgresql (the gradebook test on a
# real server, which starts a throw-away cluster of its own) and npm (the site's MathJax, RequireJS
# and widget manager, installed with `npm ci` by sitebuild/site_assets.py and served from the site itself).
# Installs what is missing when run as root; otherwise says what to install.
set -euo pipefail
# `system-deps.sh book` checks only what the site build needs (npm).
needed=()
command -v npm >/dev/null || needed+=(npm)
if [ "${1:-test}" != book ]; then
    command -v bwrap >/dev/null || needed+=(bubblewrap)
    command -v chromium >/dev/null || needed+=(chromium)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || needed+=(postgresql)
fi
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${needed[*]}; install them with: sudo apt-get install ${needed[*]}" >&2
    exit 1
fi
echo "installing system packages: ${needed[*]}"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${needed[@]}"

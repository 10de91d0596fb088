#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard's browser test (crates/nabla-ui/tests/browser.rs).
# The test finds it as `chromium` on PATH (or $NABLA_CHROMIUM); under CI it fails without it.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  chromium --version
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
chromium --version

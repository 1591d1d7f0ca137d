#!/usr/bin/env bash
# Installs the headless browser the console's test drives: Debian's chromium (apt, as root or with
# sudo). Idempotent: it skips what is there. The test skips, saying why, only where no chromium is found.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  echo "chromium: $(chromium --version 2>/dev/null || echo present)"
  exit 0
fi
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
chromium --version

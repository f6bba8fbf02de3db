#!/usr/bin/env bash
# System packages the project uses beside Python and npm, from Debian's archive:
#   chromium   browser tests (Playwright drives Debian's Chromium; never `playwright install`)
#   espeak-ng  real Dutch and English speech for the phone-system simulator and audio tests
#   gettext    compilemessages (Dutch translations)
# Installs what is missing when run as root; otherwise says what to install.
set -euo pipefail
declare -A need=([chromium]=chromium [espeak-ng]=espeak-ng [msgfmt]=gettext)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing system packages: ${missing[*]} (install them with your package manager)." >&2
  echo "Browser tests and Dutch speech are skipped without them." >&2
  exit 0
fi
echo "Installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

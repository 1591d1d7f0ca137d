#!/usr/bin/env bash
# Installs what examples/qemu needs and builds the guest. Debian/Ubuntu, run as root (CI is):
#   - apt: QEMU (qemu-system-x86), busybox-static, iputils-ping, gcc and libc6-dev (static guest),
#     iproute2 (network namespace, bridge, taps), cpio;
#   - a Debian kernel (linux-image-amd64's current image) unpacked with dpkg-deb into .cache/,
#     never installed into /boot;
#   - then scripts/build-initramfs.sh.
# Idempotent: it skips what is there. FERRY_QEMU_NO_APT=1 skips apt (packages already present).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache="$here/.cache"
mkdir -p "$cache"

packages=(qemu-system-x86 busybox-static iputils-ping gcc libc6-dev iproute2 cpio)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ] && [ "${FERRY_QEMU_NO_APT:-0}" != 1 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -f "$cache/vmlinuz" ] || [ ! -d "$cache/modules" ]; then
  # linux-image-amd64 is a meta package: its one dependency names the current image.
  image=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*\)/\1/p' | head -n 1)
  [ -n "$image" ] || { echo "install.sh: no linux-image package found (apt-get update?)" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download "$image" >/dev/null 2>&1) || { echo "install.sh: apt-get download $image failed" >&2; exit 1; }
  dpkg-deb -x "$work"/*.deb "$work/x"
  cp "$work"/x/boot/vmlinuz-* "$cache/vmlinuz"
  rm -rf "$cache/modules" && mkdir -p "$cache/modules"
  for m in virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
    find "$work/x/lib/modules" -name "$m.ko*" -exec cp {} "$cache/modules/" \;
  done
  echo "$image" >"$cache/kernel-package"
fi

"$here/scripts/build-initramfs.sh"

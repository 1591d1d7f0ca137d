#!/usr/bin/env bash
# Builds .cache/initramfs.gz: busybox-static, the virtio-net modules install.sh unpacked, the
# guest's init (guest/init) and its workload (guest/ferry-guest.c, linked static with gcc).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache="$here/.cache"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
cp /bin/busybox "$root/bin/busybox"
gcc -O2 -static -Wall -Wno-format-truncation -o "$root/bin/ferry-guest" "$here/guest/ferry-guest.c"
cp "$cache"/modules/*.ko* "$root/lib/modules/"
# Debian 13 compresses modules; busybox insmod takes them plain.
for m in "$root"/lib/modules/*.ko.xz; do [ -e "$m" ] && xz -d "$m"; done
for m in "$root"/lib/modules/*.ko.zst; do [ -e "$m" ] && zstd -q -d --rm "$m"; done
cp "$here/guest/init" "$root/init"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$cache/initramfs.gz.tmp"
mv "$cache/initramfs.gz.tmp" "$cache/initramfs.gz"
echo "built $cache/initramfs.gz ($(stat -c %s "$cache/initramfs.gz") bytes)"

#!/usr/bin/env bash
# One-time set-up for berth's rootless tests (and CI): an ordinary user with subordinate ids,
# a runtime dir, and read access to this checkout. Idempotent; run as root.
#   scripts/rootless-user.sh [USER]        (default: berthtest)
# Then run berth as that user:
#   runuser -u berthtest -- env HOME=/home/berthtest XDG_RUNTIME_DIR=/run/user/$(id -u berthtest) bin/berth info
set -euo pipefail
user="${1:-berthtest}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
[ "$(id -u)" = 0 ] || { echo "rootless-user.sh: run as root" >&2; exit 1; }
command -v newuidmap >/dev/null && command -v newgidmap >/dev/null || { echo "rootless-user.sh: newuidmap/newgidmap missing: apt-get install uidmap" >&2; exit 1; }

id -u "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
uid="$(id -u "$user")"
gid="$(id -g "$user")"
home="$(getent passwd "$user" | cut -d: -f6)"

# 65536 subordinate ids, as podman's default; only when the user has none yet
for kind in uid gid; do
  file="/etc/sub$kind"
  touch "$file"
  if ! grep -q "^$user:" "$file" && ! grep -q "^$uid:" "$file"; then
    start=100000
    # the first free block of 65536 after every range already given out
    while read -r end; do [ "$end" -gt "$start" ] && start="$end"; done < <(awk -F: 'NF == 3 { print $2 + $3 }' "$file")
    echo "$user:$start:65536" >> "$file"
  fi
done

# XDG_RUNTIME_DIR as systemd-logind makes it (no logind session here)
run="/run/user/$uid"
mkdir -p "$run"
chown "$uid:$gid" "$run"
chmod 700 "$run"

# pasta and slirp4netns open /dev/net/tun inside the user's namespaces: Debian's udev rules
# make it 0666 (creating a device still needs CAP_NET_ADMIN in a network namespace the user
# owns); machines without udev may leave it 0600
[ -c /dev/net/tun ] && chmod 0666 /dev/net/tun
# fuse-overlayfs (the fallback where the kernel refuses overlay in a user namespace) opens
# /dev/fuse: 0666 as the kernel and udev make it
[ -c /dev/fuse ] && chmod 0666 /dev/fuse

# the checkout must be reachable (x on every parent) and readable (bin/, dist/, node_modules)
dir="$repo"
while [ "$dir" != "/" ]; do
  chmod o+x "$dir" 2>/dev/null || true
  dir="$(dirname "$dir")"
done
chmod -R o+rX "$repo/bin" "$repo/dist" "$repo/native" "$repo/package.json" 2>/dev/null || true
modules="$(readlink -f "$repo/node_modules" 2>/dev/null || true)"
if [ -n "$modules" ]; then
  dir="$modules"
  while [ "$dir" != "/" ]; do chmod o+x "$dir" 2>/dev/null || true; dir="$(dirname "$dir")"; done
  chmod -R o+rX "$modules" 2>/dev/null || true
fi
echo "$user uid=$uid home=$home XDG_RUNTIME_DIR=$run subuid=$(grep "^$user:" /etc/subuid | cut -d: -f2,3) subgid=$(grep "^$user:" /etc/subgid | cut -d: -f2,3)"

#!/usr/bin/env bash
# Builds the vestibule-gateway Debian package from a staged tree with plain
# dpkg-deb (no extra tool). Usage:
#   scripts/build-gateway-deb.sh [--binary PATH] [--out DIR]
# Without --binary it builds the release binary first. Output:
# DIR/vestibule-gateway_<version>_<arch>.deb (DIR: target/deb), path printed last.
set -euo pipefail
cd "$(dirname "$0")/.."
binary="" out="target/deb"
while (($#)); do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$binary" ]]; then
  cargo build --release --locked -p vestibule-gateway
  binary="${CARGO_TARGET_DIR:-target}/release/vestibule-gateway"
fi
[[ -x "$binary" ]] || { echo "no executable at $binary" >&2; exit 1; }
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
arch=$(dpkg --print-architecture)
src=packaging/gateway
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -D -m 0755 "$binary" "$stage/usr/bin/vestibule-gateway"
install -D -m 0640 "$src/gateway.toml" "$stage/etc/vestibule/gateway.toml"
install -D -m 0644 "$src/vestibule-gateway.service" "$stage/usr/lib/systemd/system/vestibule-gateway.service"
install -D -m 0644 "$src/sysusers.conf" "$stage/usr/lib/sysusers.d/vestibule-gateway.conf"
install -D -m 0644 docs/grafana/vestibule-gateway.json "$stage/usr/share/doc/vestibule-gateway/grafana/vestibule-gateway.json"
install -D -m 0644 docs/admin-openapi.json "$stage/usr/share/doc/vestibule-gateway/admin-openapi.json"
install -D -m 0644 README.md "$stage/usr/share/doc/vestibule-gateway/README.md"
mkdir -p "$stage/DEBIAN"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" "$src/debian/control.in" >"$stage/DEBIAN/control"
echo "Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)" >>"$stage/DEBIAN/control"
install -m 0644 "$src/debian/conffiles" "$stage/DEBIAN/conffiles"
install -m 0755 "$src/debian/postinst" "$src/debian/prerm" "$src/debian/postrm" "$stage/DEBIAN/"
mkdir -p "$out"
deb="$out/vestibule-gateway_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zzstd -z3 --build "$stage" "$deb" >/dev/null
echo "$deb"

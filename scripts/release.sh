#!/usr/bin/env bash
# Builds, signs and describes a Linux release of the desktop app for the
# updater (tauri-plugin-updater): the artifacts, their minisign signatures
# and latest.json, Tauri's static update feed, in one directory to upload.
#
#   TAURI_SIGNING_PRIVATE_KEY_PATH=~/.config/vestibule-release/release.key \
#     scripts/release.sh [--binary FILE] [--deb FILE] [--version X.Y.Z]
#                        [--notes TEXT] [--url-base URL] [--out DIR]
#
#   --binary FILE   the app binary to ship (default: build it, release profile)
#   --deb FILE      the .deb to ship (default: bundle it, unless --binary was given)
#   --version V     the version the artifacts are (default: tauri.conf.json's);
#                   every signature is bound to it (--app-version), and the app
#                   refuses an update whose feed announces another (requireSignedVersion)
#   --notes TEXT    release notes shown in Settings (default: none)
#   --url-base URL  where the artifacts will be served from
#                   (default: https://releases.vestibule.im/desktop)
#   --out DIR       where to write (default: target/release-feed)
#
# The private key comes from the environment only, never from the repo:
# TAURI_SIGNING_PRIVATE_KEY (the key text) or TAURI_SIGNING_PRIVATE_KEY_PATH
# (a file outside this repository), and TAURI_SIGNING_PRIVATE_KEY_PASSWORD
# when it has one. The public half is `plugins.updater.pubkey` in
# src-tauri/tauri.conf.json.
#
# Which artifact for which install. The plugin (tauri-plugin-updater 2.x,
# updater.rs, Linux `install_inner`) picks the installer from the bundle type
# that the Tauri bundler patches into the binary (`__TAURI_BUNDLE_TYPE`):
#   - deb (the app installed from our .deb): it looks for the feed entry
#     `linux-x86_64-deb` first, then `linux-x86_64`, and runs `dpkg -i` on the
#     download through pkexec, a graphical sudo or sudo: it needs an admin.
#   - anything else (unknown, or AppImage): it replaces the running file in
#     place (renamed to a backup in a temp dir on the same file system, the
#     download written in its place with the same permissions, restored on
#     failure). The download must be an ELF file (an AppImage or a plain
#     binary) or a .tar.gz holding a `*.AppImage`. The file replaced is the
#     AppImage (APPIMAGE) when running as one, else the binary itself.
# So latest.json gets two entries: `linux-x86_64-deb` → the .deb, for
# packaged installs, and `linux-x86_64` → the plain binary, for a copy run
# from a directory the person owns (no root needed; this is also what the
# end-to-end test `tests/tests/updater.rs` installs, into a temp directory).
# The plain binary must be one the bundler has not patched, or it would take
# itself for a .deb install: it is built with `--no-bundle` and copied before
# `tauri bundle` runs (tauri-cli 2.12 patches only the copy it packs into the
# .deb — checked — but the script does not rely on that), and a binary whose
# marker no longer reads UNK is refused. (No AppImage: building one
# downloads tools, which cannot be done here.)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

binary="" deb="" version="" notes="" out="" built=false
url_base="https://releases.vestibule.im/desktop"
while (($#)); do
  case "$1" in
    --binary) binary="$(realpath "$2")"; shift 2 ;;
    --deb) deb="$(realpath "$2")"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    --notes) notes="$2"; shift 2 ;;
    --url-base) url_base="${2%/}"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "release.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
out="$(mkdir -p "${out:-$repo/target/release-feed}" && cd "${out:-$repo/target/release-feed}" && pwd)"
[[ -n "$version" ]] || version="$(node -p "require('$repo/src-tauri/tauri.conf.json').version")"

# The key: from the environment, and never a file inside the repository.
if [[ -z "${TAURI_SIGNING_PRIVATE_KEY:-}" && -z "${TAURI_SIGNING_PRIVATE_KEY_PATH:-}" ]]; then
  echo "release.sh: set TAURI_SIGNING_PRIVATE_KEY or TAURI_SIGNING_PRIVATE_KEY_PATH (the release key is kept outside the repo)" >&2
  exit 2
fi
if [[ -n "${TAURI_SIGNING_PRIVATE_KEY_PATH:-}" ]]; then
  key="$(realpath "$TAURI_SIGNING_PRIVATE_KEY_PATH")"
  [[ -f "$key" ]] || { echo "release.sh: no key at $TAURI_SIGNING_PRIVATE_KEY_PATH" >&2; exit 2; }
  if [[ "$key" == "$repo"/* ]]; then
    echo "release.sh: the private key must not live in the repository ($key)" >&2
    exit 2
  fi
fi
export TAURI_SIGNING_PRIVATE_KEY_PASSWORD="${TAURI_SIGNING_PRIVATE_KEY_PASSWORD-}"

tauri() { npx --prefix "$repo/ui" tauri "$@"; }

if [[ -z "$binary" && -z "$deb" ]]; then
  echo "==> build $version (release, no bundle)"
  (cd "$repo/src-tauri" && tauri build --no-bundle)
  binary="$out/.vestibule-unbundled"
  cp "$repo/target/release/vestibule" "$binary"
  built=true
  echo "==> bundle the .deb"
  (cd "$repo/src-tauri" && tauri bundle --bundles deb)
  deb="$(ls -t "$repo"/target/release/bundle/deb/*_"$version"_*.deb | head -n1)"
fi

arch=x86_64
deb_arch=amd64
entries=()
sign() { # FILE → its signature (base64 text), bound to $version
  local file="$1"
  tauri signer sign --app-version "$version" "$file" >/dev/null
  cat "$file.sig"
}
if [[ -n "$binary" ]]; then
  # Unpatched, the marker still reads UNK (the bundler overwrites it with DEB/RPM/APP).
  if ! grep -aq "__TAURI_BUNDLE_TYPE_VAR_UNK" "$binary"; then
    echo "release.sh: $binary is not an unbundled Tauri build (no UNK bundle-type marker: a packed copy would update through dpkg/rpm)" >&2
    exit 2
  fi
  name="vestibule_${version}_${deb_arch}"
  if $built; then mv "$binary" "$out/$name"; else cp "$binary" "$out/$name"; fi
  echo "==> sign $name"
  entries+=("linux-$arch" "$name" "$(sign "$out/$name")")
fi
if [[ -n "$deb" ]]; then
  name="$(basename "$deb")"
  [[ "$deb" == "$out/$name" ]] || cp "$deb" "$out/$name"
  echo "==> sign $name"
  entries+=("linux-$arch-deb" "$name" "$(sign "$out/$name")")
fi

echo "==> $out/latest.json"
VERSION="$version" NOTES="$notes" URL_BASE="$url_base" node -e '
  const [, ...e] = process.argv;
  const platforms = {};
  for (let i = 0; i < e.length; i += 3) {
    platforms[e[i]] = {
      signature: e[i + 2],
      url: `${process.env.URL_BASE}/${encodeURIComponent(e[i + 1])}`,
    };
  }
  const feed = {
    version: process.env.VERSION,
    notes: process.env.NOTES,
    pub_date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    platforms,
  };
  process.stdout.write(JSON.stringify(feed, null, 2) + "\n");
' -- "${entries[@]}" > "$out/latest.json"
cat "$out/latest.json"

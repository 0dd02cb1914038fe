#!/usr/bin/env bash
# Build an emulated device for the runtime: Debian bookworm's Python 3.11 for ARCH (arm64) unpacked
# into OUT/root, and the runtime's dependencies as ARCH wheels from PyPI in OUT/site. Nothing is
# installed on the host but qemu-user-static (when missing, as root): the packages are downloaded
# with a separate apt state (OUT/apt) and unpacked with dpkg-deb. Never `dpkg --add-architecture`:
# installing python3:arm64 on the host replaces the host's own Python.
#
#   ports/emulation/sysroot.sh arm64 build/emulation/arm64 [PIP]
#
# Run the runtime there with:
#   PYTHONPATH=OUT/site:TREE qemu-aarch64-static -L OUT/root OUT/root/usr/bin/python3.11 ...
set -euo pipefail
arch=${1:?usage: sysroot.sh ARCH OUT [PIP]}
out=${2:?usage: sysroot.sh ARCH OUT [PIP]}
pip=${3:-pip}
case "$arch" in
  arm64) qemu=qemu-aarch64-static; platforms="manylinux2014_aarch64 manylinux_2_28_aarch64 manylinux_2_17_aarch64" ;;
  *) echo "sysroot.sh: unknown ARCH $arch (arm64)" >&2; exit 2 ;;
esac
if ! command -v "$qemu" >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq qemu-user-static >/dev/null
  else
    echo "sysroot.sh: $qemu is missing (apt-get install qemu-user-static, as root)" >&2; exit 3
  fi
fi
rm -rf "$out.partial" && mkdir -p "$out.partial"/{apt/state/lists/partial,apt/cache/archives/partial,root,site}
work=$(cd "$out.partial" && pwd)
touch "$work/apt/state/status"
echo "deb [arch=$arch signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main" \
  > "$work/apt/sources.list"
apt_opts=(
  -o "Dir::State=$work/apt/state" -o "Dir::State::status=$work/apt/state/status"
  -o "Dir::Cache=$work/apt/cache" -o "Dir::Etc::SourceList=$work/apt/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null" -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch"
  -o "Debug::NoLocking=1"
)
apt-get "${apt_opts[@]}" update -qq
apt-get "${apt_opts[@]}" install -y -qq --download-only --no-install-recommends python3.11 libstdc++6 >/dev/null
for deb in "$work"/apt/cache/archives/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
platform_args=()
for p in $platforms; do platform_args+=(--platform "$p"); done
"$pip" install -q --disable-pip-version-check --target "$work/site" "${platform_args[@]}" \
  --implementation cp --python-version 3.11 --abi cp311 --only-binary=:all: \
  numpy ai-edge-litert "cryptography>=42" click
"$qemu" -L "$work/root" "$work/root/usr/bin/python3.11" -c "import sys; assert sys.version_info[:2] == (3, 11)"
rm -rf "$work/apt/cache"
rm -rf "$out" && mv "$out.partial" "$out"
echo "$out: $arch Python 3.11 and the runtime's wheels"

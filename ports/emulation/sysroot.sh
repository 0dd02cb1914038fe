#!/usr/bin/env bash
# Build an emulated arm64 device for the runtime, installing nothing on the host:
#   OUT/qemu/qemu-aarch64  Debian trixie's user-mode emulator (a static binary, unpacked from its
#                          package): bookworm's qemu 7.2 crashes in LiteRT 2.3.0's model loading
#   OUT/root               Debian bookworm's arm64 Python 3.11 and pip, unpacked from their packages
#   OUT/site               the runtime as a device installs it: our wheel (built here without the
#                          optional C extension) with its [edge] extra, installed by pip running
#                          under emulation, so pip picks the arm64 wheels a real device would get
# Packages are downloaded with a separate apt state (OUT/apt) and unpacked with dpkg-deb. Never
# `dpkg --add-architecture`: installing python3:arm64 on the host replaces the host's own Python.
#
#   ports/emulation/sysroot.sh build/emulation/arm64 [PYTHON]     (PYTHON builds the wheel)
#
# Run the runtime there with:
#   PYTHONPATH=OUT/site OUT/qemu/qemu-aarch64 -L OUT/root OUT/root/usr/bin/python3.11 ...
set -euo pipefail
out=${1:?usage: sysroot.sh OUT [PYTHON]}
python=${2:-python3}
here=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$out.partial" && mkdir -p "$out.partial"
work=$(cd "$out.partial" && pwd)

# apt-get for another architecture and suite, with its own state: downloads only.
fetch() {  # fetch ARCH SUITE DIR PACKAGE...
  local arch=$1 suite=$2 dir=$3; shift 3
  mkdir -p "$dir"/{state/lists/partial,cache/archives/partial}
  touch "$dir/state/status"
  echo "deb [arch=$arch signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
    > "$dir/sources.list"
  local opts=(
    -o "Dir::State=$dir/state" -o "Dir::State::status=$dir/state/status" -o "Dir::Cache=$dir/cache"
    -o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
    -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch" -o "Debug::NoLocking=1"
    -o "APT::Sandbox::User=root"
  )
  apt-get "${opts[@]}" update -qq
  apt-get "${opts[@]}" install -y -qq --download-only --no-install-recommends "$@" >/dev/null
}

fetch amd64 trixie "$work/apt-qemu" qemu-user
mkdir -p "$work/qemu-deb" "$work/qemu"
dpkg-deb -x "$(ls "$work"/apt-qemu/cache/archives/qemu-user_*.deb)" "$work/qemu-deb"
cp "$work/qemu-deb/usr/bin/qemu-aarch64" "$work/qemu/"
rm -rf "$work/qemu-deb" "$work/apt-qemu"

fetch arm64 bookworm "$work/apt" python3.11 python3-pip libstdc++6
mkdir -p "$work/root"
for deb in "$work"/apt/cache/archives/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
rm -rf "$work/apt"

(cd "$here" && MASKNET_PURE_WHEEL=1 "$python" -m pip wheel -q --no-deps --no-build-isolation -w "$work/wheel" .)
wheel=$(ls "$work"/wheel/masknet_edge-*-py3-none-any.whl)
"$work/qemu/qemu-aarch64" -L "$work/root" "$work/root/usr/bin/python3.11" -m pip install -q \
  --disable-pip-version-check --no-compile --root-user-action=ignore --target "$work/site" "$wheel[edge]"
rm -rf "$out" && mv "$out.partial" "$out"
echo "$out: arm64 Python 3.11 with the runtime installed by pip (no compiler)"

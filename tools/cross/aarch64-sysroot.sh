#!/usr/bin/env bash
# Unpacks Debian's arm64 builds of the runtime's libraries into a folder, for the aarch64
# cross-build (tools/cross/aarch64.cmake). They are unpacked, not installed: Debian's multiarch
# packages of onnx and cpuinfo ship files that clash with their amd64 versions, so dpkg refuses
# to install both. Adds the arm64 architecture to apt once if it is missing.
# Usage: tools/cross/aarch64-sysroot.sh DIR   (`make test-aarch64` runs it)
set -euo pipefail
dir=${1:?usage: aarch64-sysroot.sh DIR}
packages=(libonnx-dev libonnx1 libonnxifi libprotobuf-dev libprotobuf32 libprotobuf-lite32 libfmt-dev libfmt9
  libxnnpack-dev libxnnpack0 libpthreadpool-dev libpthreadpool0 libcpuinfo-dev libcpuinfo0 zlib1g)
stamp="$dir/.packages"
want="${packages[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "adding Debian's arm64 architecture (for apt-get download; nothing arm64 is installed)"
  $sudo dpkg --add-architecture arm64
  $sudo apt-get update -qq
fi
debs=$(mktemp -d)
chmod 755 "$debs"  # apt downloads as its own user
trap 'rm -rf "$debs"' EXIT
(cd "$debs" && apt-get download -qq "${packages[@]/%/:arm64}")
mkdir -p "$dir"
for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$dir"; done
echo "$want" >"$stamp"
echo "aarch64 sysroot: ${#packages[@]} packages unpacked into $dir"

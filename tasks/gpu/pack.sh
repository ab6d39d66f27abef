#!/usr/bin/env bash
# Fills .gpu/ (ignored by git) with what tasks/gpu/run.sh needs on a machine without network:
# this Deno binary, a Deno cache holding this project's npm packages, and Debian's Vulkan/EGL
# loader packages (amd64). Keep the whole folder under the device tool's 64 MiB carry limit.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
stage=$(mktemp -d)
mkdir -p "$stage/bin" "$stage/debs" /tmp/amd64/partial
cp "$(readlink -f "$(command -v deno)")" "$stage/bin/deno"
DENO_DIR="$stage/deno_dir" deno cache tasks/main.ts
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
apt-get $o update -qq
(cd "$stage/debs" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
# One compressed file: the Deno binary alone is about 95 MB unpacked.
rm -rf .gpu && mkdir .gpu
tar -C "$stage" -cf - . | xz -T0 -6 >.gpu/bundle.tar.xz
rm -rf "$stage"
du -sh .gpu/bundle.tar.xz

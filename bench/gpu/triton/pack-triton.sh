#!/usr/bin/env bash
# Packs the real Triton Inference Server for a GPU machine with Python 3.12 and no network:
#   bench/gpu/triton/pack-triton.sh      # here (x86_64): writes .gpu-pack/triton-gpu.tar.xz (server)
#                                        # and .gpu-pack/triton-pa.tar.xz (perf_analyzer)
#
# The pack (unpacked to /tmp/triton by `bench/gpu/run.sh device triton-setup`):
#   server/      tritonserver, the Python backend with the stub for Python 3.12, the local cache
#                (nvidia-pytriton 0.7.0's wheel for Python 3.12, laid out as scripts/install-triton.sh does)
#   libs/        nvidia_pytriton.libs (what tritonserver and the backend link against; the
#                wheel's libpython 3.13 is left out: only the 3.13 stub needs it)
#   libpython/   libpython3.12.so.1.0 from Ubuntu 24.04's libpython3.12t64, used only where the
#                GPU machine's Python has no shared libpython (the stub embeds Python 3.12)
#   perf-analyzer/, perf-analyzer-runtime/   (triton-pa.tar.xz) perf_analyzer 2.60.0 and Debian 13's
#                C runtime (it needs glibc 2.38), copied from .triton/ (scripts/install-triton.sh)
#   bin/tritonserver, bin/perf_analyzer      wrappers (written by triton-setup on the device)
# Downloads: the nvidia-pytriton wheel (pip), Ubuntu's libpython3.12t64 .deb (apt-get with a
# private package list), each once into $TRITON_PACK_CACHE (default /tmp/triton-pack-cache).
set -euo pipefail
here=$(cd "$(dirname "$0")/../../.." && pwd)
cache=${TRITON_PACK_CACHE:-/tmp/triton-pack-cache}
out="$here/.gpu-pack/triton-gpu.tar.xz"
out_pa="$here/.gpu-pack/triton-pa.tar.xz"
say() { echo "pack-triton: $*" >&2; }
[ "$(uname -m)" = x86_64 ] || { say "this machine is $(uname -m); the pack must be x86_64"; exit 1; }
mkdir -p "$cache" "$here/.gpu-pack"

wheel=$(ls "$cache"/nvidia_pytriton-0.7.0-*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
  python3 -m pip download -q --no-deps --only-binary :all: --python-version 3.12 --platform manylinux_2_35_x86_64 -d "$cache" nvidia-pytriton==0.7.0
  wheel=$(ls "$cache"/nvidia_pytriton-0.7.0-*.whl | head -1)
fi
deb=$(ls "$cache"/libpython3.12t64_*.deb 2>/dev/null | head -1 || true)
if [ -z "$deb" ]; then
  a="$cache/apt"; rm -rf "$a"; mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$a/pref"
  # Ubuntu's archive key is not on this Debian machine: the Release file is not verified;
  # apt still checks the .deb against the Packages index's SHA256.
  echo "deb [trusted=yes] http://archive.ubuntu.com/ubuntu noble-updates main" > "$a/sources.list"
  o=(-o "Dir::Etc::SourceList=$a/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::Etc::PreferencesParts=$a/pref"
     -o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a/cache" -o Dir::State::status=/dev/null -o APT::Sandbox::User=root
     -o APT::Architecture=amd64 -o Acquire::AllowInsecureRepositories=true)
  apt-get "${o[@]}" -qq update 2>/dev/null || true
  (cd "$cache" && apt-get "${o[@]}" -qq download libpython3.12t64)
  rm -rf "$a"
  deb=$(ls "$cache"/libpython3.12t64_*.deb | head -1)
fi
[ -x "$here/.triton/perf-analyzer/perf_analyzer/bin/perf_analyzer" ] || { say "no .triton/perf-analyzer: run scripts/install-triton.sh first"; exit 1; }

stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
t="$stage/triton"; mkdir -p "$t/server/backends/python" "$t/libpython" "$t/bin"
unzip -q "$wheel" 'pytriton/tritonserver/bin/*' 'pytriton/tritonserver/backends/*' 'pytriton/tritonserver/caches/*' \
  'pytriton/tritonserver/python_backend_stubs/3.12/*' 'nvidia_pytriton.libs/*' -d "$stage/w"
w="$stage/w/pytriton/tritonserver"
cp -a "$w/bin" "$w/caches" "$t/server/"
cp -a "$w/backends/python/libtriton_python.so" "$w/backends/python/triton_python_backend_utils.py" "$t/server/backends/python/"
cp "$w/python_backend_stubs/3.12/triton_python_backend_stub" "$t/server/backends/python/"
chmod +x "$t/server/bin/tritonserver" "$t/server/backends/python/triton_python_backend_stub"
mv "$stage/w/nvidia_pytriton.libs" "$t/libs"
rm -f "$t"/libs/libpython3-*.so*
dpkg-deb -x "$deb" "$stage/deb"
cp -L "$stage/deb/usr/lib/x86_64-linux-gnu/libpython3.12.so.1.0" "$t/libpython/"
echo "$(basename "$deb")" > "$t/libpython/FROM"
missing=$(LD_LIBRARY_PATH="$t/libs:$t/libpython" ldd "$t/server/bin/tritonserver" "$t/server/backends/python/libtriton_python.so" "$t/server/backends/python/triton_python_backend_stub" | grep '=> not found' || true)  # glibc version lines: this machine may be older than the GPU's
[ -z "$missing" ] || { say "unresolved libraries: $missing"; exit 1; }
echo "nvidia-pytriton 0.7.0 ($(basename "$wheel")), Python 3.12 stub; perf_analyzer $(cat "$here/.triton/perf-analyzer/.stamp" 2>/dev/null)" > "$t/VERSION"
# perf_analyzer in a pack of its own: with the Node pack, one call carries at most 64 MiB.
mkdir -p "$stage/pa/triton"
cp -a "$here/.triton/perf-analyzer" "$here/.triton/perf-analyzer-runtime" "$stage/pa/triton/"
du -sh "$t" "$stage/pa/triton" | sed 's/^/pack-triton: unpacked /' >&2
tar -C "$stage" -cf - triton | xz -T0 -9 > "$out"
tar -C "$stage/pa" -cf - triton | xz -T0 -9 > "$out_pa"
ls -l "$out" "$out_pa" | awk '{printf "pack-triton: %s (%.1f MiB)\n", $9, $5/1048576}' >&2

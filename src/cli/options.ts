/**
 * The one table of options, for every command. Each entry carries the typed default value
 * the plan uses when nothing sets it, the environment variable and profile key that set it,
 * and the commands that take it. It drives commander's registration (and so --help), the
 * README's flag and environment sections (scripts/gen-readme.ts, checked by a test) and the
 * plan's fallbacks, so the help text can never show a default the plan does not use.
 * Precedence when a value comes from several places: default < profile < environment < flag.
 */
import { DEFAULT_STRATEGY } from '../search/index.js';
import { DEFAULT_TRITON_IMAGE } from '../runner/launchers/docker.js';
import { DEFAULT_THRESHOLDS } from '../regress/compare.js';

export const COMMANDS = ['run', 'plan', 'regress', 'report', 'compare', 'baseline export', 'export-landscape'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** A default as the plan holds it: a number (durations in ms, fractions as 0.05), a string, a flag, a list. */
export type DefaultValue = number | string | boolean | readonly number[] | readonly string[];

export type OptionGroup = 'Target and model' | 'Search' | 'Load and measurement' | 'Server' | 'GPU workers' | 'Regression' | 'Output';

export interface OptionSpec {
  /** Key in the parsed flags (camelCase). */
  key: string;
  /** commander flag text, kebab-case; absent for settings only the environment or a profile give. */
  flags?: string;
  description: string;
  /** The value used when no flag, environment variable or profile sets it. */
  default?: DefaultValue;
  /** How `default` is printed: a duration in ms (`500ms`) or a fraction (`5%`). */
  unit?: 'ms' | 'fraction';
  /** For a default that is not one value (it depends on other settings or the machine): what it is. */
  defaultText?: string;
  /** A command whose default differs (regress reads the nightly profile). */
  defaultFor?: Partial<Record<CommandName, DefaultValue>>;
  /** A command whose description differs (--out, --json). */
  describeFor?: Partial<Record<CommandName, string>>;
  /** Environment variable that sets it. */
  env?: string;
  /** Dotted key in a profile YAML. */
  profileKey?: string;
  group: OptionGroup;
  commands: readonly CommandName[];
}

/** Commands that plan a search. */
const RUN: readonly CommandName[] = ['run', 'plan'];
/** Commands that start a server and measure: they all take the same launch and load flags. */
const SERVE: readonly CommandName[] = ['run', 'plan', 'regress'];
const STORED: readonly CommandName[] = ['report', 'baseline export', 'export-landscape'];

export const OPTIONS: readonly OptionSpec[] = [
  // Target and model
  { key: 'model', flags: '--model <name>', description: 'model to tune: a folder of the model repository', env: 'TANALYZE_MODEL', group: 'Target and model', commands: RUN },
  { key: 'p99', flags: '--p99 <latency>', description: 'p99 latency target: 50ms, 0.05s or 50000us', profileKey: 'target.p99', env: 'TANALYZE_P99', group: 'Target and model', commands: RUN },
  { key: 'modelRepository', flags: '--model-repository <dir>', description: 'Triton model repository holding the model', defaultText: 'the shipped examples/model_repository', env: 'TANALYZE_MODEL_REPOSITORY', group: 'Target and model', commands: SERVE },
  { key: 'profile', flags: '--profile <name|file>', description: 'search profile: a name from profiles/ or a YAML file', default: 'default', defaultFor: { regress: 'nightly' }, env: 'TANALYZE_PROFILE', group: 'Search', commands: SERVE },
  // Search
  { key: 'search', flags: '--search <strategy>', description: 'search strategy: bayesian, grid, random or quick', default: DEFAULT_STRATEGY, profileKey: 'search.strategy', env: 'TANALYZE_SEARCH', group: 'Search', commands: RUN },
  { key: 'budget', flags: '--budget <n>', description: 'most configurations to measure, the default configuration included', default: 12, profileKey: 'search.budget', env: 'TANALYZE_BUDGET', group: 'Search', commands: RUN },
  { key: 'timeBudget', flags: '--time-budget <duration>', description: 'start no new configuration after this long, e.g. 30m', profileKey: 'search.time_budget', env: 'TANALYZE_TIME_BUDGET', group: 'Search', commands: RUN },
  { key: 'seed', flags: '--seed <n>', description: 'seed for the strategy, the generated inputs and the arrivals', default: 1, profileKey: 'search.seed', env: 'TANALYZE_SEED', group: 'Search', commands: SERVE },
  { key: 'maxBatchSizes', flags: '--max-batch-sizes <list>', description: 'max_batch_size values to search, e.g. 4,8,16', default: [4, 8, 16], profileKey: 'space.max_batch_size', group: 'Search', commands: RUN },
  { key: 'queueDelays', flags: '--queue-delays <list>', description: 'dynamic batching max_queue_delay_microseconds values, e.g. 0,1000', default: [0, 2000, 8000], profileKey: 'space.max_queue_delay_us', group: 'Search', commands: RUN },
  { key: 'instanceCounts', flags: '--instance-counts <list>', description: 'instance_group count values, e.g. 1,2', default: [1, 2], profileKey: 'space.instance_count', group: 'Search', commands: RUN },
  { key: 'precisions', flags: '--precisions <list>', description: 'precisions to search: FP32, FP16, BF16, INT8', default: ['FP32'], profileKey: 'space.precision', group: 'Search', commands: RUN },
  // Load and measurement
  { key: 'maxConcurrency', flags: '--max-concurrency <n>', description: 'highest closed-loop concurrency the load search may try', default: 64, profileKey: 'load.max_concurrency', group: 'Load and measurement', commands: SERVE },
  { key: 'window', flags: '--window <duration>', description: 'length of one measurement window', default: 500, unit: 'ms', profileKey: 'load.window', group: 'Load and measurement', commands: SERVE },
  { key: 'load', flags: '--load <mode>', description: 'concurrency (closed loop: N requests in flight) or rate (open loop: requests sent on a schedule, latency from the intended send time)', default: 'concurrency', describeFor: { regress: "concurrency or rate, as for a run; default: the baseline's own mode" }, profileKey: 'load.mode', group: 'Load and measurement', commands: SERVE },
  { key: 'arrivals', flags: '--arrivals <kind>', description: 'rate mode: constant or poisson (seeded) arrivals', default: 'constant', profileKey: 'load.arrivals', group: 'Load and measurement', commands: SERVE },
  { key: 'maxRate', flags: '--max-rate <n>', description: 'rate mode: highest request rate per second the load search may try', default: 100_000, profileKey: 'load.max_rate', group: 'Load and measurement', commands: SERVE },
  { key: 'windowRequests', flags: '--window-requests <n>', description: 'a measurement window lasts long enough for this many requests (at most 10 s), so p99 rests on enough samples at low rates; 0 = --window alone', default: 200, profileKey: 'load.window_requests', group: 'Load and measurement', commands: SERVE },
  { key: 'warmupRequests', flags: '--warmup-requests <n>', description: 'requests before the first window, beside the warm-up time; excluded from all figures', default: 0, profileKey: 'load.warmup_requests', group: 'Load and measurement', commands: SERVE },
  { key: 'loadWorkers', flags: '--load-workers <n>', description: 'worker threads that send load (0: the main thread); for servers faster than one thread can drive, and for open loop on the embedded server, which shares the main thread', defaultText: '0; 1 with --load rate on the embedded server', profileKey: 'load.workers', group: 'Load and measurement', commands: SERVE },
  { key: 'clientTransport', flags: '--client-transport <kind>', description: "how load requests are sent: http2 (lean gRPC calls on tanalyze's own HTTP/2 client over TCP, well under half the client CPU per request) or grpc-js (@grpc/grpc-js's generic client)", default: 'http2', profileKey: 'load.client_transport', group: 'Load and measurement', commands: SERVE },
  { key: 'sharedMemory', flags: '--shared-memory <kind>', description: "where request inputs travel: none (inside each gRPC request) or system (written once into a POSIX shared-memory region that the server reads in place, as perf_analyzer's --shared-memory system; the server must run on this host: embedded, local, or remote on a loopback address); outputs come back over gRPC either way", default: 'none', profileKey: 'load.shared_memory', group: 'Load and measurement', commands: SERVE },
  { key: 'maxWindows', flags: '--max-windows <n>', description: 'most windows per load point before it is recorded unstable', default: 10, profileKey: 'load.max_windows', group: 'Load and measurement', commands: SERVE },
  { key: 'minWindows', description: 'windows that must agree for a stable measurement', default: 3, profileKey: 'load.min_windows', group: 'Load and measurement', commands: SERVE },
  { key: 'stability', description: 'how closely the last windows must agree on throughput and p99', default: 0.1, unit: 'fraction', profileKey: 'load.stability', group: 'Load and measurement', commands: SERVE },
  { key: 'warmup', description: 'load before the first window, excluded from the figures', default: 300, unit: 'ms', profileKey: 'load.warmup', group: 'Load and measurement', commands: SERVE },
  { key: 'maxExtraWindows', description: "windows added while the p99 target is inside p99's confidence interval", default: 4, profileKey: 'load.max_extra_windows', group: 'Load and measurement', commands: SERVE },
  // Server
  { key: 'launch', flags: '--launch <mode>', description: 'where the model is served: embedded (in-process, ONNX Runtime on the CPU), local (tritonserver), docker (Triton container), remote (a running Triton); offline: replay (a recorded landscape), sim (a simulated server)', default: 'embedded', profileKey: 'server.launch', env: 'TANALYZE_LAUNCH', group: 'Server', commands: SERVE },
  { key: 'port', flags: '--port <n>', description: "embedded server's gRPC port (0: the OS picks a free one)", default: 0, profileKey: 'server.port', group: 'Server', commands: SERVE },
  { key: 'tritonPath', flags: '--triton-path <file>', description: 'local: the tritonserver binary', defaultText: 'tritonserver on PATH', profileKey: 'server.triton_path', env: 'TANALYZE_TRITON_PATH', group: 'Server', commands: SERVE },
  { key: 'tritonImage', flags: '--triton-image <image>', description: 'docker: the Triton image', default: DEFAULT_TRITON_IMAGE, profileKey: 'server.triton_image', env: 'TANALYZE_TRITON_IMAGE', group: 'Server', commands: SERVE },
  { key: 'gpus', flags: '--gpus <which>', description: 'docker: GPUs for the container: all, none, 0,1 (indexes or UUIDs) or count=N', default: 'all', profileKey: 'server.gpus', group: 'Server', commands: SERVE },
  { key: 'dockerSocket', flags: '--docker-socket <path>', description: "docker: the Docker Engine's socket", defaultText: 'DOCKER_HOST or /var/run/docker.sock', profileKey: 'server.docker_socket', group: 'Server', commands: SERVE },
  { key: 'url', flags: '--url <host:port>', description: 'remote: gRPC address of a Triton running in explicit model-control mode', profileKey: 'server.url', env: 'TANALYZE_URL', group: 'Server', commands: SERVE },
  { key: 'metricsUrl', flags: '--metrics-url <url>', description: "remote: the server's Prometheus endpoint", defaultText: 'http://<host>:8002/metrics', profileKey: 'server.metrics_url', group: 'Server', commands: SERVE },
  { key: 'serverArgs', description: 'local, docker: more tritonserver flags, e.g. ["--log-verbose=1"]', default: [], profileKey: 'server.args', group: 'Server', commands: SERVE },
  { key: 'landscape', flags: '--landscape <file.csv>', description: 'replay: the recorded landscape that answers every measurement', profileKey: 'replay.landscape', group: 'Server', commands: SERVE },
  { key: 'replayNoise', flags: '--replay-noise <fraction>', description: 'replay: seeded multiplicative noise on throughput and latencies, e.g. 0.05', default: 0, profileKey: 'replay.noise', group: 'Server', commands: SERVE },
  { key: 'engineTarget', flags: '--engine-target <target>', description: 'ONNX models on Triton: onnxruntime (TensorRT accelerator, no rebuild) or tensorrt_plan (trtexec builds an engine per precision and max batch)', default: 'onnxruntime', profileKey: 'engine.target', group: 'Server', commands: SERVE },
  { key: 'engineCache', flags: '--engine-cache <dir>', description: 'where built engines and optimized models are cached', defaultText: '$XDG_CACHE_HOME/tanalyze/engines, else ~/.cache/tanalyze/engines', env: 'TANALYZE_ENGINE_CACHE', profileKey: 'engine.cache', group: 'Server', commands: SERVE },
  // GPU workers: the embedded server runs TorchScript models on a GPU through Python workers.
  { key: 'gpuPython', description: 'embedded server, TorchScript models: the Python interpreter of the GPU workers', default: 'python3', env: 'TANALYZE_GPU_PYTHON', group: 'GPU workers', commands: SERVE },
  { key: 'gpuWorker', description: 'embedded server, TorchScript models: the GPU worker script', defaultText: "gpu_worker.py of this package", env: 'TANALYZE_GPU_WORKER', group: 'GPU workers', commands: SERVE },
  { key: 'gpuCache', description: 'embedded server, TorchScript models: where GPU workers cache built models', defaultText: '$TMPDIR/tanalyze-gpu-cache', env: 'TANALYZE_GPU_CACHE', group: 'GPU workers', commands: SERVE },
  { key: 'gpuRunTimeoutMs', description: 'a batch with no answer after this many ms is a hang: the GPU worker is replaced', default: 60_000, env: 'TANALYZE_GPU_RUN_TIMEOUT_MS', group: 'GPU workers', commands: SERVE },
  { key: 'gpuCudaGraphs', description: 'capture CUDA graphs per batch size when a GPU model loads (0 turns it off)', default: true, env: 'TANALYZE_GPU_CUDA_GRAPHS', group: 'GPU workers', commands: SERVE },
  { key: 'gpuDevice', description: 'CUDA device index of the GPU workers', default: 0, env: 'TANALYZE_GPU_DEVICE', group: 'GPU workers', commands: SERVE },
  { key: 'gpuLog', description: "print the GPU workers' own log on stderr (1 turns it on)", default: false, env: 'TANALYZE_GPU_LOG', group: 'GPU workers', commands: SERVE },
  { key: 'nvidiaSmi', description: "the nvidia-smi the embedded server samples GPU gauges with while a GPU model is loaded", default: 'nvidia-smi', env: 'TANALYZE_NVIDIA_SMI', group: 'GPU workers', commands: SERVE },
  // Regression
  { key: 'baseline', flags: '--baseline <run|file>', description: "baseline: a baseline JSON file, or a run in the database ('latest' or a run id)", env: 'TANALYZE_BASELINE', group: 'Regression', commands: ['regress'] },
  { key: 'maxThroughputDrop', flags: '--max-throughput-drop <fraction>', description: 'largest accepted fall of throughput at the p99 target: 5% or 0.05', default: DEFAULT_THRESHOLDS.maxThroughputDrop, unit: 'fraction', env: 'TANALYZE_MAX_THROUGHPUT_DROP', profileKey: 'regress.max_throughput_drop', group: 'Regression', commands: ['compare', 'regress'] },
  { key: 'maxP99Rise', flags: '--max-p99-rise <fraction>', description: "largest accepted rise of p99 at the baseline's load: 10% or 0.1", default: DEFAULT_THRESHOLDS.maxP99Rise, unit: 'fraction', env: 'TANALYZE_MAX_P99_RISE', profileKey: 'regress.max_p99_rise', group: 'Regression', commands: ['compare', 'regress'] },
  { key: 'maxNoise', flags: '--max-noise <fraction>', description: 'most noise allowance (from repeated measurements) added to a threshold', default: DEFAULT_THRESHOLDS.maxNoise, unit: 'fraction', profileKey: 'regress.max_noise', group: 'Regression', commands: ['compare', 'regress'] },
  { key: 'repeats', flags: '--repeats <n>', description: "times to measure the baseline's recommended configuration (2 or more give a noise allowance)", default: 3, profileKey: 'regress.repeats', group: 'Regression', commands: ['regress'] },
  { key: 'research', flags: '--research', description: "also search the profile's space again and compare its best configuration", default: false, profileKey: 'regress.research', group: 'Regression', commands: ['regress'] },
  { key: 'junit', flags: '--junit <file>', description: 'write a JUnit XML file: one test case per check', group: 'Regression', commands: ['compare', 'regress'] },
  { key: 'markdown', flags: '--markdown <file>', description: 'write a Markdown summary (e.g. "$GITHUB_STEP_SUMMARY")', group: 'Regression', commands: ['compare', 'regress'] },
  { key: 'html', flags: '--html <file>', description: 'write the comparison page: baseline against candidate on one chart', group: 'Regression', commands: ['compare', 'regress'] },
  { key: 'saveBaseline', flags: '--save-baseline <file>', description: 'write the new measurements as a baseline JSON file (to keep as the next baseline)', group: 'Regression', commands: ['regress'] },
  // Output
  { key: 'db', flags: '--db <file>', description: 'SQLite database of runs, trials and measurements', default: 'reports/tanalyze.db', env: 'TANALYZE_DB', group: 'Output', commands: COMMANDS },
  { key: 'outDir', flags: '--out-dir <dir>', description: 'folder for reports (one sub-folder per run)', default: 'reports', env: 'TANALYZE_OUT_DIR', group: 'Output', commands: SERVE },
  {
    key: 'out', flags: '--out <file>', description: 'where to write the output', group: 'Output', commands: STORED,
    describeFor: { report: 'where to write the HTML (default: <db folder>/<run-id>/index.html)', 'baseline export': 'where to write the baseline (default: stdout)', 'export-landscape': 'where to write the CSV (default: stdout)' },
  },
  { key: 'resume', flags: '--resume <run>', description: "continue a stored run ('latest' or a run id) with its stored settings, without repeating its finished trials", group: 'Output', commands: RUN },
  { key: 'fresh', flags: '--fresh', description: 'start a new run even when an interrupted run with the same settings could be resumed', group: 'Output', commands: RUN },
  {
    key: 'json', flags: '--json', description: 'print one JSON summary on stdout instead of text', group: 'Output', commands: COMMANDS,
    describeFor: { plan: 'print the plan as one JSON object on stdout', 'export-landscape': 'print a JSON summary on stdout (with --out)' },
  },
  { key: 'quiet', flags: '--quiet', description: 'print only the final summary', group: 'Output', commands: SERVE },
];

/** What the sources give before validation: strings from flags/env, YAML values from profiles. */
export type RawOptions = Record<string, unknown>;

export function optionsFor(command: CommandName): OptionSpec[] {
  return OPTIONS.filter((o) => o.commands.includes(command));
}

export function optionSpec(key: string): OptionSpec {
  const spec = OPTIONS.find((o) => o.key === key);
  if (!spec) throw new Error(`no option '${key}' in the option table`);
  return spec;
}

/** The flag's name as messages use it (`--budget`), or the environment variable / profile key of a setting without one. */
export function flagName(spec: OptionSpec): string {
  return spec.flags?.split(' ')[0] ?? spec.env ?? spec.profileKey ?? spec.key;
}

/** The typed default of an option: what the plan uses when nothing sets it. */
export function defaultOf<T extends DefaultValue>(key: string, command: CommandName = 'run'): T {
  const spec = optionSpec(key);
  const value = spec.defaultFor?.[command] ?? spec.default;
  if (value === undefined) throw new Error(`option '${key}' has no default value in the option table`);
  return value as T;
}

/** A duration in ms as its shortest form: 500ms, 1s, 30m. */
export function formatMs(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** The default as --help and the README print it; null when there is none to print. */
export function defaultShown(spec: OptionSpec, command: CommandName = 'run'): string | null {
  if (spec.defaultText) return spec.defaultText;
  const v = spec.defaultFor?.[command] ?? spec.default;
  if (v === undefined || v === false) return null;
  if (Array.isArray(v)) return v.length ? v.join(',') : null;
  if (typeof v === 'number' && spec.unit === 'ms') return formatMs(v);
  if (typeof v === 'number' && spec.unit === 'fraction') return `${+(v * 100).toFixed(4)}%`;
  if (v === true) return spec.env ? '1' : 'on';
  return String(v);
}

/** The help line of an option for one command: its description, default and environment variable. */
export function helpDescription(spec: OptionSpec, command: CommandName): string {
  const description = spec.describeFor?.[command] ?? spec.description;
  const shown = spec.describeFor?.[command] ? null : defaultShown(spec, command);
  const extras = [shown !== null ? `default: ${shown}` : '', spec.env ? `env ${spec.env}` : ''].filter(Boolean).join('; ');
  return extras ? `${description} (${extras})` : description;
}

/**
 * GPU gauges for the embedded server's /metrics, as Triton exports them through DCGM
 * (nv_gpu_utilization 0..1, nv_gpu_memory_used_bytes, nv_gpu_memory_total_bytes,
 * nv_gpu_power_usage W, labelled by gpu_uuid), so the scraper stores GPU memory and
 * utilization with every load point exactly as it does against Triton.
 *
 * The numbers come from one long-running `nvidia-smi --query-gpu=... -lms N` (NVML
 * behind a CLI; no Node binding to NVML is maintained, and starting nvidia-smi once per
 * scrape would cost ~50 ms each). Parsing and printing are pure; only the monitor spawns.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface GpuSample {
  uuid: string;
  /** 0..1, as Triton's nv_gpu_utilization. */
  utilization: number | null;
  memoryUsedBytes: number | null;
  memoryTotalBytes: number | null;
  powerW: number | null;
}

/** The fields asked of nvidia-smi, in this order. */
export const NVIDIA_SMI_QUERY = 'uuid,utilization.gpu,memory.used,memory.total,power.draw';

const MiB = 1024 * 1024;

/** One line of `--format=csv,noheader,nounits` output for NVIDIA_SMI_QUERY, or null when it is not one. Pure. */
export function parseNvidiaSmiLine(line: string): GpuSample | null {
  const f = line.split(',').map((s) => s.trim());
  if (f.length !== 5 || !/^GPU-/.test(f[0]!)) return null;
  // "[N/A]" or "[Not Supported]" for a field the GPU does not report.
  const num = (s: string): number | null => {
    const v = Number(s);
    return s !== '' && Number.isFinite(v) ? v : null;
  };
  const util = num(f[1]!);
  const used = num(f[2]!);
  const total = num(f[3]!);
  return {
    uuid: f[0]!,
    utilization: util === null ? null : util / 100,
    memoryUsedBytes: used === null ? null : used * MiB,
    memoryTotalBytes: total === null ? null : total * MiB,
    powerW: num(f[4]!),
  };
}

const GAUGES: { name: string; help: string; value: (s: GpuSample) => number | null }[] = [
  { name: 'nv_gpu_utilization', help: 'GPU utilization rate [0.0 - 1.0)', value: (s) => s.utilization },
  { name: 'nv_gpu_memory_total_bytes', help: 'GPU total memory, in bytes', value: (s) => s.memoryTotalBytes },
  { name: 'nv_gpu_memory_used_bytes', help: 'GPU used memory, in bytes', value: (s) => s.memoryUsedBytes },
  { name: 'nv_gpu_power_usage', help: 'GPU power usage in watts', value: (s) => s.powerW },
];

/** Triton's GPU gauge families for these samples (empty text for none). Pure. */
export function gpuMetricsText(samples: readonly GpuSample[]): string {
  if (samples.length === 0) return '';
  const lines: string[] = [];
  for (const g of GAUGES) {
    lines.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
    for (const s of samples) {
      const v = g.value(s);
      if (v !== null) lines.push(`${g.name}{gpu_uuid="${s.uuid}"} ${v}`);
    }
  }
  return lines.join('\n') + '\n';
}

export interface GpuMonitorOptions {
  /** The nvidia-smi to run (default: `nvidia-smi` on PATH; the CLI passes TANALYZE_NVIDIA_SMI). */
  nvidiaSmi?: string;
  /** Sampling period (default 500 ms). */
  intervalMs?: number;
}

/**
 * The latest sample of each GPU, from one nvidia-smi process started on first use. Without
 * nvidia-smi (or a driver) it reports nothing: metrics never fail a measurement.
 */
export class NvidiaSmiMonitor {
  private child: ChildProcess | undefined;
  private readonly latest = new Map<string, GpuSample>();
  private failed = false;

  constructor(private readonly opts: GpuMonitorOptions = {}) {}

  /** Starts sampling unless it already runs or could not start. */
  ensureStarted(): void {
    if (this.child || this.failed) return;
    const bin = this.opts.nvidiaSmi ?? 'nvidia-smi';
    const args = [`--query-gpu=${NVIDIA_SMI_QUERY}`, '--format=csv,noheader,nounits', `-lms`, String(this.opts.intervalMs ?? 500)];
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'ignore'], detached: true /* out of the terminal's Ctrl-C; dies on a closed pipe */ });
    this.child = child;
    child.on('error', () => {
      this.failed = true;
      this.child = undefined;
    });
    child.on('exit', () => {
      // A driver error or a kill: keep the last samples, do not respawn in a loop.
      this.failed = true;
      this.child = undefined;
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const s = parseNvidiaSmiLine(line);
      if (s) this.latest.set(s.uuid, s);
    });
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
  }

  samples(): GpuSample[] {
    return [...this.latest.values()];
  }

  stop(): void {
    this.child?.kill();
    this.child = undefined;
  }
}

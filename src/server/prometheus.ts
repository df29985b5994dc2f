/**
 * Triton's per-model Prometheus families for the embedded server, computed from the
 * same counters as ModelStatistics so the two views always agree. Pure.
 */
import type { ModelStatistics } from '../protocol/types.js';
import type { FailureReason } from './statistics.js';

export interface ModelMetricsInput {
  stats: ModelStatistics;
  failures?: Partial<Record<FailureReason, number>>;
  /** Requests queued and not yet executing. */
  pending?: number;
}

interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  samples: (m: ModelMetricsInput) => { labels?: Record<string, string>; value: number }[];
}

const us = (ns: number): number => Math.round(ns / 1000);
const one = (value: number) => [{ value }];
const REASONS: FailureReason[] = ['REJECTED', 'CANCELED', 'BACKEND', 'OTHER'];

// Names, types and help texts as Triton prints them (metrics.md, metrics-sample.txt).
const FAMILIES: Family[] = [
  {
    name: 'nv_inference_request_success',
    type: 'counter',
    help: 'Number of successful inference requests, all batch sizes',
    samples: (m) => one(m.stats.inference_stats.success.count),
  },
  {
    name: 'nv_inference_request_failure',
    type: 'counter',
    help: 'Number of failed inference requests, all batch sizes',
    samples: (m) => REASONS.map((reason) => ({ labels: { reason }, value: m.failures?.[reason] ?? 0 })),
  },
  {
    name: 'nv_inference_count',
    type: 'counter',
    help: 'Number of inferences performed (does not include cached requests)',
    samples: (m) => one(m.stats.inference_count),
  },
  {
    name: 'nv_inference_exec_count',
    type: 'counter',
    help: 'Number of model executions performed (does not include cached requests)',
    samples: (m) => one(m.stats.execution_count),
  },
  {
    name: 'nv_inference_request_duration_us',
    type: 'counter',
    help: 'Cumulative inference request duration in microseconds (includes cached requests)',
    samples: (m) => one(us(m.stats.inference_stats.success.ns)),
  },
  {
    name: 'nv_inference_queue_duration_us',
    type: 'counter',
    help: 'Cumulative inference queuing duration in microseconds (includes cached requests)',
    samples: (m) => one(us(m.stats.inference_stats.queue.ns)),
  },
  {
    name: 'nv_inference_compute_input_duration_us',
    type: 'counter',
    help: 'Cumulative compute input duration in microseconds (does not include cached requests)',
    samples: (m) => one(us(m.stats.inference_stats.compute_input.ns)),
  },
  {
    name: 'nv_inference_compute_infer_duration_us',
    type: 'counter',
    help: 'Cumulative compute inference duration in microseconds (does not include cached requests)',
    samples: (m) => one(us(m.stats.inference_stats.compute_infer.ns)),
  },
  {
    name: 'nv_inference_compute_output_duration_us',
    type: 'counter',
    help: 'Cumulative inference compute output duration in microseconds (does not include cached requests)',
    samples: (m) => one(us(m.stats.inference_stats.compute_output.ns)),
  },
  {
    name: 'nv_inference_pending_request_count',
    type: 'gauge',
    help: 'Instantaneous number of pending requests awaiting execution per-model.',
    samples: (m) => one(m.pending ?? 0),
  },
];

const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

function labelText(labels: Record<string, string>): string {
  return `{${Object.entries(labels)
    .map(([k, v]) => `${k}="${escape(v)}"`)
    .join(',')}}`;
}

/** Prometheus text exposition (format 0.0.4) for the given models. */
export function metricsText(models: readonly ModelMetricsInput[]): string {
  const lines: string[] = [];
  for (const f of FAMILIES) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const m of models) {
      for (const s of f.samples(m)) {
        const labels = { model: m.stats.name, version: m.stats.version, ...s.labels };
        lines.push(`${f.name}${labelText(labels)} ${s.value}`);
      }
    }
  }
  return lines.join('\n') + '\n';
}

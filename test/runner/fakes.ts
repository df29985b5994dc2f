/**
 * Test fakes for the runner: a virtual clock whose timers fire in order only when
 * nothing else can run, and a FAKE InferenceClient with a simple queueing model.
 */
import type {
  InferenceClient,
  ModelInferRequest,
  ModelInferResponse,
  ModelMetadataResponse,
  ModelStatistics,
} from '../../src/protocol/types.js';

interface Timer {
  at: bigint;
  seq: number;
  resolve: () => void;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** FAKE time: `sleep` schedules on a virtual clock that `run` advances when the program is idle. */
export class VirtualTime {
  nowNs = 0n;
  private timers: Timer[] = [];
  private seq = 0;

  readonly clock = (): bigint => this.nowNs;

  readonly sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      this.timers.push({ at: this.nowNs + BigInt(Math.round(ms * 1e6)), seq: this.seq++, resolve });
    });

  get nowMs(): number {
    return Number(this.nowNs) / 1e6;
  }

  /** Runs `fn` to completion, jumping to the next timer whenever a turn of the event loop passes idle. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    let settled = false;
    const p = fn().finally(() => {
      settled = true;
    });
    p.catch(() => undefined);
    let idle = 0;
    while (!settled) {
      // Several turns, so work parked on setImmediate (the driver's yields) runs and
      // schedules its timers before time jumps.
      for (let i = 0; i < 3 && !settled; i++) await turn();
      if (settled) break;
      if (this.timers.length === 0) {
        if (++idle > 1000) throw new Error('VirtualTime: deadlock (no timers and the task has not finished)');
        continue;
      }
      idle = 0;
      this.timers.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.seq - b.seq));
      const at = this.timers[0]!.at;
      if (at > this.nowNs) this.nowNs = at;
      while (this.timers.length && this.timers[0]!.at === at) this.timers.shift()!.resolve();
    }
    return p;
  }
}

export const FAKE_METADATA: ModelMetadataResponse = {
  name: 'fake_model',
  versions: ['1'],
  platform: 'onnxruntime_onnx',
  inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [-1, 16] }],
  outputs: [{ name: 'OUTPUT0', datatype: 'FP32', shape: [-1, 4] }],
};

/**
 * FAKE InferenceClient: each request takes baseMs + perInFlightMs × (requests in flight
 * on arrival, itself included) on the injected sleep, the in-flight part counted as
 * queue time. Keeps Triton-shaped cumulative statistics.
 */
export class FakeQueueingClient implements InferenceClient {
  inFlight = 0;
  maxInFlight = 0;
  calls = 0;
  requests: ModelInferRequest[] = [];
  private success = 0;
  private queueNs = 0;
  private inferNs = 0;
  failWhen: (call: number) => string | null = () => null;

  constructor(
    private readonly sleep: (ms: number) => Promise<void>,
    private readonly baseMs = 2,
    private readonly perInFlightMs = 0.5,
    private readonly metadata: ModelMetadataResponse = FAKE_METADATA,
  ) {}

  async serverLive(): Promise<boolean> {
    return true;
  }
  async serverReady(): Promise<boolean> {
    return true;
  }
  async serverMetadata(): Promise<{ name: string; version: string; extensions: string[] }> {
    return { name: 'fake', version: '0', extensions: [] };
  }
  async modelReady(): Promise<boolean> {
    return true;
  }
  async modelMetadata(): Promise<ModelMetadataResponse> {
    return this.metadata;
  }
  async modelConfig(): Promise<never> {
    throw new Error('FakeQueueingClient: modelConfig not faked');
  }
  async modelInfer(request: ModelInferRequest): Promise<ModelInferResponse> {
    const call = this.calls++;
    if (this.requests.length < 3) this.requests.push(request);
    const failure = this.failWhen(call);
    if (failure !== null) {
      await this.sleep(this.baseMs);
      throw new Error(failure);
    }
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const queueMs = this.perInFlightMs * this.inFlight;
    await this.sleep(this.baseMs + queueMs);
    this.inFlight--;
    this.success++;
    this.queueNs += queueMs * 1e6;
    this.inferNs += this.baseMs * 1e6;
    return { model_name: request.model_name, model_version: '1', id: '', outputs: [], raw_output_contents: [] };
  }
  async modelStatistics(name?: string): Promise<ModelStatistics[]> {
    const d = (count: number, ns: number) => ({ count, ns });
    return [
      {
        name: name ?? this.metadata.name,
        version: '1',
        last_inference: 0,
        inference_count: this.success,
        execution_count: this.success,
        inference_stats: {
          success: d(this.success, (this.queueNs + this.inferNs)),
          fail: d(0, 0),
          queue: d(this.success, this.queueNs),
          compute_input: d(this.success, 0),
          compute_infer: d(this.success, this.inferNs),
          compute_output: d(this.success, 0),
          cache_hit: d(0, 0),
          cache_miss: d(0, 0),
        },
        batch_stats: [],
      },
    ];
  }
  async repositoryIndex(): Promise<never[]> {
    return [];
  }
  async repositoryModelLoad(): Promise<void> {}
  async repositoryModelUnload(): Promise<void> {}
  close(): void {}
}

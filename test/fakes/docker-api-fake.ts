/**
 * FAKE Docker Engine API, for tests only: an HTTP server on a unix socket that answers
 * the endpoints tanalyze uses (/_ping, /images/{name}/json, /images/create,
 * /containers/create, start, stop, wait, logs, json, /containers/json with label
 * filters, DELETE) and records every request. "Running" a container runs a FAKE
 * executable chosen by the container's Cmd[0] (e.g. the FAKE tritonserver) as a local
 * process, with the container's internal ports rewritten to the published host ports,
 * so the launcher under test talks to it over the real protocol.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
}

interface FakeContainer {
  id: string;
  name: string;
  create: Record<string, any>;
  running: boolean;
  exitCode: number;
  started: boolean;
  proc?: ChildProcess;
  /** Frames of the multiplexed log stream: [1|2, bytes]. */
  log: [number, Buffer][];
  logWaiters: Set<() => void>;
  exitWaiters: Set<() => void>;
}

export interface FakeDockerOptions {
  /** Images already present. */
  images?: string[];
  /** Cmd[0] → { script, env } run as the container's process; unknown commands exit 127. */
  commands?: Record<string, { script: string; env?: Record<string, string> }>;
  /** Makes /containers/create fail with this status and message (e.g. the GPU driver error). */
  createError?: { status: number; message: string };
  /** Makes /images/create stream an error event with this message. */
  pullError?: string;
  /** Containers that already exist (e.g. left by a killed run). */
  existing?: { name: string; labels: Record<string, string>; running?: boolean }[];
}

export interface FakeDocker {
  socketPath: string;
  requests: RecordedRequest[];
  containers: Map<string, FakeContainer>;
  images: Set<string>;
  /** Requests to a path matching `re` (method optional). */
  find(re: RegExp, method?: string): RecordedRequest[];
  close(): Promise<void>;
}

let seq = 0;
const newId = () => (Date.now().toString(16) + (++seq).toString(16).padStart(8, '0')).padEnd(64, 'f').slice(0, 64);

function frame(stream: number, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

/** Rewrites Triton's --*-port flags from the container's ports to the published host ports. */
function hostArgs(c: FakeContainer): string[] {
  const args: string[] = c.create['Cmd'].slice(1);
  const bindings = c.create['HostConfig']?.['PortBindings'] as Record<string, { HostPort: string }[]> | undefined;
  if (!bindings) return args;
  const map: Record<string, string> = {};
  for (const [k, v] of Object.entries(bindings)) map[k.replace('/tcp', '')] = v[0]!.HostPort;
  return args.map((a) => {
    const m = /^(--(?:grpc|http|metrics)-port)=(\d+)$/.exec(a);
    return m && map[m[2]!] ? `${m[1]}=${map[m[2]!]}` : a;
  });
}

export async function startFakeDocker(opts: FakeDockerOptions = {}): Promise<FakeDocker> {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-fakedocker-'));
  const socketPath = join(dir, 'docker.sock');
  const requests: RecordedRequest[] = [];
  const containers = new Map<string, FakeContainer>();
  const images = new Set(opts.images ?? []);

  const addLog = (c: FakeContainer, stream: number, data: Buffer) => {
    c.log.push([stream, data]);
    for (const w of c.logWaiters) w();
  };
  const markExited = (c: FakeContainer, code: number) => {
    c.running = false;
    c.exitCode = code;
    for (const w of c.exitWaiters) w();
    for (const w of c.logWaiters) w();
  };

  for (const e of opts.existing ?? []) {
    const id = newId();
    containers.set(id, { id, name: e.name, create: { Labels: e.labels, Image: 'x' }, running: e.running ?? true, started: true, exitCode: 0, log: [], logWaiters: new Set(), exitWaiters: new Set() });
  }

  const lookup = (idOrName: string): FakeContainer | undefined => {
    const byId = containers.get(idOrName) ?? [...containers.values()].find((c) => c.id.startsWith(idOrName));
    return byId ?? [...containers.values()].find((c) => c.name === idOrName);
  };

  const run = (c: FakeContainer) => {
    const cmd = c.create['Cmd']?.[0] as string | undefined;
    const spec = cmd ? opts.commands?.[cmd] : undefined;
    c.running = true;
    c.started = true;
    if (!spec) {
      addLog(c, 2, Buffer.from(`exec: "${cmd}": executable file not found in $PATH\n`));
      markExited(c, 127);
      return;
    }
    const proc = spawn(process.execPath, [spec.script, ...hostArgs(c)], { env: { ...process.env, ...spec.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    c.proc = proc;
    proc.stdout!.on('data', (d: Buffer) => addLog(c, 1, d));
    proc.stderr!.on('data', (d: Buffer) => addLog(c, 2, d));
    proc.on('exit', (code, signal) => markExited(c, code ?? (signal === 'SIGKILL' ? 137 : signal === 'SIGTERM' ? 143 : 1)));
  };

  const stopContainer = async (c: FakeContainer, t: number) => {
    if (!c.running || !c.proc) {
      c.running = false;
      return;
    }
    const exited = new Promise<void>((r) => c.exitWaiters.add(r));
    c.proc.kill('SIGTERM');
    const timer = setTimeout(() => c.proc?.kill('SIGKILL'), t * 1000);
    await exited;
    clearTimeout(timer);
  };

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const notFound = (res: http.ServerResponse, what: string) => json(res, 404, { message: `No such container: ${what}` });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://docker');
        const p = url.pathname.replace(/^\/v1\.\d+/, '');
        const query = Object.fromEntries(url.searchParams.entries());
        const raw = Buffer.concat(chunks).toString('utf8');
        let body: unknown = raw;
        try {
          body = raw ? JSON.parse(raw) : undefined;
        } catch {
          /* keep the text */
        }
        const method = req.method ?? 'GET';
        requests.push({ method, path: p, query, body });

        if (p === '/_ping') return res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
        if (p === '/version') return json(res, 200, { Version: '27.0.0-fake', ApiVersion: '1.46' });
        let m = /^\/images\/(.+)\/json$/.exec(p);
        if (m && method === 'GET') {
          const name = decodeURIComponent(m[1]!);
          return images.has(name) ? json(res, 200, { Id: 'sha256:' + 'a'.repeat(64), RepoTags: [name] }) : json(res, 404, { message: `No such image: ${name}` });
        }
        if (p === '/images/create' && method === 'POST') {
          const image = `${query['fromImage']}:${query['tag'] ?? 'latest'}`;
          res.writeHead(200, { 'content-type': 'application/json' });
          const events: object[] = [{ status: `Pulling from ${query['fromImage']}`, id: query['tag'] }];
          if (opts.pullError) events.push({ errorDetail: { message: opts.pullError }, error: opts.pullError });
          else {
            for (const layer of ['aaa111', 'bbb222']) {
              events.push({ status: 'Pulling fs layer', progressDetail: {}, id: layer });
              events.push({ status: 'Downloading', progressDetail: { current: 500, total: 1000 }, progress: '[=====>     ]', id: layer });
              events.push({ status: 'Download complete', progressDetail: {}, id: layer });
              events.push({ status: 'Pull complete', progressDetail: {}, id: layer });
            }
            events.push({ status: `Digest: sha256:${'b'.repeat(64)}` }, { status: `Status: Downloaded newer image for ${image}` });
            images.add(image);
          }
          for (const e of events) res.write(JSON.stringify(e) + '\r\n');
          return res.end();
        }
        if (p === '/containers/create' && method === 'POST') {
          if (opts.createError) return json(res, opts.createError.status, { message: opts.createError.message });
          const create = body as Record<string, any>;
          if (!images.has(create['Image'])) return json(res, 404, { message: `No such image: ${create['Image']}` });
          const id = newId();
          containers.set(id, { id, name: query['name'] ?? id.slice(0, 12), create, running: false, started: false, exitCode: 0, log: [], logWaiters: new Set(), exitWaiters: new Set() });
          return json(res, 201, { Id: id, Warnings: [] });
        }
        if (p === '/containers/json' && method === 'GET') {
          const filters = query['filters'] ? (JSON.parse(query['filters']) as { label?: string[] }) : {};
          const all = query['all'] === 'true' || query['all'] === '1';
          const list = [...containers.values()].filter((c) => {
            if (!all && !c.running) return false;
            const labels = (c.create['Labels'] ?? {}) as Record<string, string>;
            return (filters.label ?? []).every((f) => {
              const [k, v] = f.split('=');
              return v === undefined ? k! in labels : labels[k!] === v;
            });
          });
          return json(
            res,
            200,
            list.map((c) => ({ Id: c.id, Names: [`/${c.name}`], Image: c.create['Image'], Labels: c.create['Labels'] ?? {}, State: c.running ? 'running' : 'exited' })),
          );
        }
        m = /^\/containers\/([^/]+)(?:\/(start|stop|wait|logs|json|kill))?$/.exec(p);
        if (m) {
          const c = lookup(m[1]!);
          const action = m[2];
          if (!c) return notFound(res, m[1]!);
          if (action === 'start' && method === 'POST') {
            if (c.running) return res.writeHead(304).end();
            run(c);
            return res.writeHead(204).end();
          }
          if (action === 'stop' && method === 'POST') {
            if (!c.running) return res.writeHead(304).end();
            await stopContainer(c, Number(query['t'] ?? 10));
            return res.writeHead(204).end();
          }
          if (action === 'wait' && method === 'POST') {
            if (c.running) await new Promise<void>((r) => c.exitWaiters.add(r));
            return json(res, 200, { StatusCode: c.exitCode });
          }
          if (action === 'json' && method === 'GET') {
            return json(res, 200, {
              Id: c.id,
              Name: `/${c.name}`,
              Config: { Labels: c.create['Labels'] ?? {}, Cmd: c.create['Cmd'], Image: c.create['Image'] },
              HostConfig: c.create['HostConfig'] ?? {},
              State: { Status: c.running ? 'running' : 'exited', Running: c.running, ExitCode: c.exitCode, OOMKilled: false },
            });
          }
          if (action === 'logs' && method === 'GET') {
            const follow = query['follow'] === 'true' || query['follow'] === '1';
            res.writeHead(200, { 'content-type': 'application/vnd.docker.multiplexed-stream' });
            let sent = 0;
            const flush = () => {
              while (sent < c.log.length) {
                const [s, d] = c.log[sent++]!;
                res.write(frame(s, d));
              }
            };
            flush();
            if (!follow || (!c.running && c.started)) return res.end();
            const waiter = () => {
              flush();
              if (!c.running) {
                c.logWaiters.delete(waiter);
                res.end();
              }
            };
            c.logWaiters.add(waiter);
            res.on('close', () => c.logWaiters.delete(waiter));
            return;
          }
          if (!action && method === 'DELETE') {
            if (c.running) {
              if (query['force'] !== 'true' && query['force'] !== '1') return json(res, 409, { message: `cannot remove container ${c.name}: container is running` });
              const exited = new Promise<void>((r) => c.exitWaiters.add(r));
              if (c.proc) {
                c.proc.kill('SIGKILL');
                await exited;
              } else c.running = false;
            }
            containers.delete(c.id);
            return res.writeHead(204).end();
          }
        }
        json(res, 404, { message: `FAKE docker: no route for ${method} ${p}` });
      })();
    });
  });
  await new Promise<void>((r) => server.listen(socketPath, r));

  return {
    socketPath,
    requests,
    containers,
    images,
    find: (re, method) => requests.filter((r) => re.test(r.path) && (!method || r.method === method)),
    async close() {
      for (const c of containers.values()) c.proc?.kill('SIGKILL');
      server.closeAllConnections?.();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

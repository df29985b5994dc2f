#!/usr/bin/env python3
"""One GPU model instance of tanalyze's embedded server (see gpu-executor.ts).

The TypeScript server does what Triton's core does (gRPC, queueing, dynamic batching,
statistics) and hands each batch to a free instance; this process is one instance: it
holds a TorchScript model on the GPU with its own CUDA stream and runs one batch at a
time, in the order the batches come. The server may send the next batch while one runs
(staging): its frame waits in the pipe and is read as soon as the current one is done.

Wire protocol (version 1), both directions, every integer little-endian:

    header (24 bytes): magic u32 = 0x55504754 ("TGPU"), version u16, type u16,
                       id u32, meta_len u32, payload_len u64
    meta:    meta_len bytes of UTF-8 JSON
    payload: payload_len bytes: the tensors' raw little-endian bytes, back to back;
             meta["tensors"] = [{name, dtype, shape, offset, nbytes}] locates each one

Messages: LOAD (server -> worker; meta: the model and its build options), LOADED
(the model is ready; meta: build and capture times), RUN (a batch; meta: dequeued_ns,
when it left the server's queue), RESULT (its outputs; meta: started_ns / built_ns /
ran_ns, CLOCK_MONOTONIC like Node's process.hrtime), ERROR (meta: message, fatal: the
worker exits after it), CLOSE. started_ns is when the worker took the batch up: the end
of its previous batch if the RUN waited behind it, else dequeued_ns (the transfer to an
idle worker is part of compute_input). Both keys are optional (a missing dequeued_ns
counts as 0, a missing started_ns as dequeued_ns), so version 1 is kept.

The protocol part of this file imports nothing outside the standard library, so it can
be tested where PyTorch is not installed; torch is imported by `serve()` only.
"""
import hashlib
import json
import os
import struct
import sys
import time

MAGIC = 0x55504754
VERSION = 1
HEADER = struct.Struct('<IHHIIQ')
assert HEADER.size == 24

LOAD, LOADED, RUN, RESULT, ERROR, CLOSE = 1, 2, 3, 4, 5, 6
TYPE_NAMES = {LOAD: 'LOAD', LOADED: 'LOADED', RUN: 'RUN', RESULT: 'RESULT', ERROR: 'ERROR', CLOSE: 'CLOSE'}

# Wire dtype names (ONNX Runtime's, as the rest of the server uses) -> element size.
DTYPE_SIZES = {
    'float32': 4, 'float16': 2, 'bfloat16': 2, 'float64': 8,
    'int8': 1, 'uint8': 1, 'int16': 2, 'int32': 4, 'int64': 8, 'bool': 1,
}


class ProtocolError(Exception):
    pass


def encode(msg_type, msg_id, meta, tensors=()):
    """One frame. `tensors`: (name, dtype, shape, bytes-like) tuples; returns a list of buffers."""
    descs = []
    bufs = []
    offset = 0
    for name, dtype, shape, data in tensors:
        mv = memoryview(data).cast('B')
        descs.append({'name': name, 'dtype': dtype, 'shape': list(shape), 'offset': offset, 'nbytes': mv.nbytes})
        bufs.append(mv)
        offset += mv.nbytes
    meta = dict(meta or {})
    if descs:
        meta['tensors'] = descs
    meta_bytes = json.dumps(meta, separators=(',', ':')).encode('utf-8')
    header = HEADER.pack(MAGIC, VERSION, msg_type, msg_id, len(meta_bytes), offset)
    return [header, meta_bytes] + bufs


def decode_header(buf):
    magic, version, msg_type, msg_id, meta_len, payload_len = HEADER.unpack(bytes(buf[:HEADER.size]))
    if magic != MAGIC:
        raise ProtocolError('bad magic 0x%08x (not a tanalyze GPU worker frame)' % magic)
    if version != VERSION:
        raise ProtocolError('protocol version %d, this worker speaks %d' % (version, VERSION))
    if msg_type not in TYPE_NAMES:
        raise ProtocolError('unknown message type %d' % msg_type)
    return msg_type, msg_id, meta_len, payload_len


def split_tensors(meta, payload):
    """[(name, dtype, shape, memoryview)] from a decoded frame."""
    out = []
    mv = memoryview(payload)
    for d in meta.get('tensors', []):
        dtype = d['dtype']
        if dtype not in DTYPE_SIZES:
            raise ProtocolError('unsupported dtype %r' % dtype)
        n = 1
        for s in d['shape']:
            n *= s
        if n * DTYPE_SIZES[dtype] != d['nbytes'] or d['offset'] + d['nbytes'] > len(mv):
            raise ProtocolError('tensor %r: %d bytes do not fit shape %r of %s' % (d['name'], d['nbytes'], d['shape'], dtype))
        out.append((d['name'], dtype, list(d['shape']), mv[d['offset']:d['offset'] + d['nbytes']]))
    return out


def read_exact(stream, n):
    chunks = []
    got = 0
    while got < n:
        b = stream.read(n - got)
        if not b:
            if got == 0 and not chunks:
                return None
            raise ProtocolError('stream closed inside a frame')
        chunks.append(b)
        got += len(b)
    return b''.join(chunks) if len(chunks) != 1 else chunks[0]


def read_into(stream, mv):
    """Fills the writable memoryview `mv` from the stream."""
    got = 0
    while got < len(mv):
        n = stream.readinto(mv[got:])
        if not n:
            raise ProtocolError('stream closed inside a frame')
        got += n


def read_frame(stream, run_buffer=None):
    """(type, id, meta, payload) or None at end of stream. `run_buffer(n)`, when given,
    returns a writable memoryview of n bytes that a RUN's payload is read into (the GPU
    model's pinned staging memory: no copy between the pipe and the host-to-device copy)."""
    head = read_exact(stream, HEADER.size)
    if head is None:
        return None
    msg_type, msg_id, meta_len, payload_len = decode_header(head)
    meta = json.loads(read_exact(stream, meta_len).decode('utf-8')) if meta_len else {}
    if payload_len and run_buffer is not None and msg_type == RUN:
        payload = run_buffer(payload_len)
        read_into(stream, payload)
    else:
        payload = read_exact(stream, payload_len) if payload_len else b''
    return msg_type, msg_id, meta, payload


def write_frame(stream, msg_type, msg_id, meta, tensors=()):
    for b in encode(msg_type, msg_id, meta, tensors):
        stream.write(b)
    stream.flush()


def started_ns(run_meta, previous_end_ns):
    """When the worker takes a RUN up: after its previous batch, not before the batch left the server's queue."""
    return max(int(run_meta.get('dequeued_ns', 0)), previous_end_ns)


def log(*args):
    print('[gpu_worker %d]' % os.getpid(), *args, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the GPU side

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def capture_sizes(max_batch):
    """Batch sizes to capture a CUDA graph for: every size up to 64, then powers of two."""
    if max_batch <= 0:
        return [1]
    if max_batch <= 64:
        return list(range(1, max_batch + 1))
    sizes = list(range(1, 65))
    s = 128
    while s < max_batch:
        sizes.append(s)
        s *= 2
    sizes.append(max_batch)
    return sizes


class GpuModel:
    def __init__(self, torch, meta):
        self.torch = torch
        self.meta = meta
        precision = str(meta.get('precision', 'FP32')).upper()
        if precision == 'INT8':
            raise RuntimeError('precision INT8 is unavailable on the GPU executor: PyTorch offers no working INT8 '
                               'inference path for a TorchScript CNN on CUDA without TensorRT (its quantized '
                               'engines run on the CPU only)')
        if precision not in ('FP32', 'FP16', 'BF16'):
            raise RuntimeError('unknown precision %r (FP32, FP16, BF16)' % precision)
        self.precision = precision
        self.dtype = {'FP32': torch.float32, 'FP16': torch.float16, 'BF16': torch.bfloat16}[precision]
        # FP32 means FP32: no TF32 tensor-core math.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        # No cudnn.benchmark: it would time every conv for each of up to 64 captured batch sizes at load.
        torch.backends.cudnn.benchmark = False
        device_index = int(meta.get('device', 0))
        self.device = torch.device('cuda', device_index)
        torch.cuda.set_device(self.device)
        self.stream = torch.cuda.Stream(device=self.device)
        self.inputs = meta['inputs']
        self.outputs = meta['outputs']
        self.max_batch = int(meta.get('max_batch_size', 0))
        self.info = {'precision': precision, 'torch': torch.__version__, 'device_name': torch.cuda.get_device_name(self.device)}
        self.module = self._build()
        # Page-locked host memory for inputs (the pipe reads into it) and outputs (the
        # device copies into it): copies to and from it run at full PCIe speed without an
        # extra staging copy by the driver. Grown on demand, reused for every batch (each
        # batch ends with a stream synchronize, so a buffer is free when the next one comes).
        self._pinned_in = None
        self._pinned_out = {}
        self.graphs = {}
        if meta.get('cuda_graphs', True) and self.max_batch > 0:
            self._capture()
        else:
            self.info['graph_capture_s'] = 0.0
            self.info['graph_sizes'] = []

    # The "engine": the model cast to the precision and frozen, cached by hash.
    def _build(self):
        torch = self.torch
        path = self.meta['model_path']
        t0 = time.perf_counter()
        src_hash = sha256_file(path)
        key_src = json.dumps({'src': src_hash, 'precision': self.precision, 'torch': torch.__version__,
                              'device': self.info['device_name'], 'recipe': 'cast+freeze v1'}, sort_keys=True)
        key = hashlib.sha256(key_src.encode()).hexdigest()
        cache_dir = self.meta.get('cache_dir') or ''
        cached = os.path.join(cache_dir, key + '.pt') if cache_dir else ''
        self.info['cache_key'] = key
        hash_s = time.perf_counter() - t0
        if cached and os.path.exists(cached):
            t1 = time.perf_counter()
            module = torch.jit.load(cached, map_location=self.device)
            module.eval()
            self.info.update(cache_hit=True, build_s=0.0, load_s=time.perf_counter() - t1, hash_s=hash_s)
            return module
        t1 = time.perf_counter()
        module = torch.jit.load(path, map_location=self.device)
        module.eval()
        if self.precision != 'FP32':
            module = module.to(self.dtype)
        frozen = True
        try:
            module = torch.jit.freeze(module)
        except Exception as e:  # a module that cannot be frozen still runs
            frozen = False
            log('torch.jit.freeze failed, serving the unfrozen module:', e)
        self.info.update(cache_hit=False, build_s=time.perf_counter() - t1, load_s=0.0, hash_s=hash_s, frozen=frozen)
        if cached:
            os.makedirs(cache_dir, exist_ok=True)
            tmp = cached + '.%d.tmp' % os.getpid()
            torch.jit.save(module, tmp)
            os.replace(tmp, cached)
        return module

    def _torch_dtype(self, wire):
        t = self.torch
        return {'float32': t.float32, 'float16': t.float16, 'bfloat16': t.bfloat16, 'float64': t.float64,
                'int8': t.int8, 'uint8': t.uint8, 'int16': t.int16, 'int32': t.int32, 'int64': t.int64,
                'bool': t.bool}[wire]

    def _forward(self, xs):
        """Model call on GPU tensors in their wire dtypes; returns outputs in their wire dtypes."""
        torch = self.torch
        args = [x.to(self.dtype) if x.is_floating_point() else x for x in xs]
        with torch.inference_mode():
            out = self.module(*args)
        if isinstance(out, dict):
            out = [out[o['name']] for o in self.outputs]
        elif isinstance(out, (list, tuple)):
            out = list(out)
        else:
            out = [out]
        return [y.to(self._torch_dtype(o['dtype'])) for y, o in zip(out, self.outputs)]

    def _capture(self):
        torch = self.torch
        sizes = capture_sizes(self.max_batch)
        t0 = time.perf_counter()
        pool = None
        with torch.cuda.stream(self.stream):
            # Largest first: the later, smaller graphs reuse its memory pool.
            for bs in sorted(sizes, reverse=True):
                static_in = [torch.zeros([bs] + list(i['dims']), dtype=self._torch_dtype(i['dtype']), device=self.device)
                             for i in self.inputs]
                for _ in range(2):  # warm-up (cuDNN algorithm choice) outside the graph
                    self._forward(static_in)
                self.stream.synchronize()
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g, pool=pool, stream=self.stream):
                    static_out = self._forward(static_in)
                if pool is None:
                    pool = g.pool()
                self.graphs[bs] = (g, static_in, static_out)
        self.stream.synchronize()
        self.sizes = sorted(self.graphs)
        self.info['graph_capture_s'] = time.perf_counter() - t0
        self.info['graph_sizes'] = [self.sizes[0], self.sizes[-1], len(self.sizes)]
        self.info['gpu_memory_mb'] = torch.cuda.memory_reserved(self.device) / 2**20

    def run_buffer(self, nbytes):
        """Pinned memory for a RUN payload of nbytes (read_frame reads into it)."""
        torch = self.torch
        if self._pinned_in is None or self._pinned_in.numel() < nbytes:
            self._pinned_in = torch.empty(max(nbytes, 1 << 20), dtype=torch.uint8, pin_memory=True)
        return memoryview(self._pinned_in.numpy())[:nbytes]

    def _pinned_output(self, j, y):
        """A pinned host tensor shaped like output y (the batch's rows), reused across batches."""
        torch = self.torch
        buf = self._pinned_out.get(j)
        if buf is None or buf.numel() < y.numel() or buf.dtype != y.dtype:
            rows = max(self.max_batch, 1) if self.max_batch > 0 else 1
            per_row = y.numel() // max(y.shape[0], 1) if y.dim() > 0 and self.max_batch > 0 else y.numel()
            buf = torch.empty(max(y.numel(), rows * per_row), dtype=y.dtype, pin_memory=True)
            self._pinned_out[j] = buf
        return buf[:y.numel()].view(y.shape)

    def run(self, tensors):
        torch = self.torch
        by_name = {t[0]: t for t in tensors}
        host = []
        for i in self.inputs:
            if i['name'] not in by_name:
                raise RuntimeError('input %r missing from the batch' % i['name'])
            _, dtype, shape, mv = by_name[i['name']]
            # A pinned payload is used in place; a read-only one (bytes) is copied once.
            buf = mv if not mv.readonly else bytearray(mv)
            host.append(torch.frombuffer(buf, dtype=self._torch_dtype(dtype)).reshape(shape))
        n = host[0].shape[0] if self.max_batch > 0 else 1
        with torch.cuda.stream(self.stream):
            if self.graphs:
                size = next((s for s in self.sizes if s >= n), None)
                if size is None:
                    raise RuntimeError('batch of %d is above max_batch_size %d' % (n, self.max_batch))
                g, static_in, static_out = self.graphs[size]
                for dst, src in zip(static_in, host):
                    dst[:n].copy_(src, non_blocking=True)
                # compute_input ends when the inputs are on the GPU, as in Triton's statistics.
                self.stream.synchronize()
                built = time.monotonic_ns()
                g.replay()
                outs = [y[:n] for y in static_out]
            else:
                xs = [h.to(self.device, non_blocking=True) for h in host]
                self.stream.synchronize()
                built = time.monotonic_ns()
                outs = self._forward(xs)
            cpu = []
            for j, y in enumerate(outs):
                dst = self._pinned_output(j, y)
                dst.copy_(y, non_blocking=True)
                cpu.append(dst)
            self.stream.synchronize()
        ran = time.monotonic_ns()
        result = []
        for y, o in zip(cpu, self.outputs):
            # Sent straight from the pinned buffer (numpy has no bfloat16: its bits as int16).
            arr = y.view(torch.int16).numpy() if y.dtype == torch.bfloat16 else y.numpy()
            result.append((o['name'], o['dtype'], list(y.shape), memoryview(arr).cast('B')))
        return built, ran, result


def serve(inp, out):
    frame = read_frame(inp)
    if frame is None:
        return 0
    msg_type, msg_id, meta, _ = frame
    if msg_type != LOAD:
        write_frame(out, ERROR, msg_id, {'message': 'expected LOAD first, got %s' % TYPE_NAMES[msg_type], 'fatal': True})
        return 1
    try:
        import torch
        if not torch.cuda.is_available():
            raise RuntimeError('CUDA is not available to PyTorch %s on this machine' % torch.__version__)
        t0 = time.perf_counter()
        model = GpuModel(torch, meta)
        model.info['total_load_s'] = time.perf_counter() - t0
    except Exception as e:
        write_frame(out, ERROR, msg_id, {'message': '%s: %s' % (type(e).__name__, e), 'fatal': True})
        return 1
    write_frame(out, LOADED, msg_id, model.info)
    while True:
        # The previous batch ends here: a RUN already in the pipe (staged) waited behind it.
        previous_end = time.monotonic_ns()
        frame = read_frame(inp, model.run_buffer)
        if frame is None or frame[0] == CLOSE:
            return 0
        msg_type, msg_id, meta, payload = frame
        if msg_type != RUN:
            write_frame(out, ERROR, msg_id, {'message': 'unexpected %s' % TYPE_NAMES[msg_type], 'fatal': False})
            continue
        started = started_ns(meta, previous_end)
        try:
            built, ran, result = model.run(split_tensors(meta, payload))
        except torch.cuda.OutOfMemoryError as e:
            write_frame(out, ERROR, msg_id, {'message': 'CUDA out of memory: %s' % str(e).split('\n')[0], 'fatal': True})
            return 3
        except Exception as e:
            fatal = 'CUDA error' in str(e) or 'illegal memory' in str(e)
            write_frame(out, ERROR, msg_id, {'message': '%s: %s' % (type(e).__name__, e), 'fatal': fatal})
            if fatal:
                return 4
            continue
        write_frame(out, RESULT, msg_id, {'started_ns': started, 'built_ns': built, 'ran_ns': ran}, result)


def main():
    # The server decides when this process ends (CLOSE, or a kill): a Ctrl-C to the
    # server's process group must not kill instances in the middle of its drain.
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Bigger pipes (Linux F_SETPIPE_SZ, up to /proc/sys/fs/pipe-max-size, 1 MiB by default):
    # a batch of 600 KB images crosses in a few writes instead of one per 64 KB.
    try:
        import fcntl
        for fd in (0, 1):
            fcntl.fcntl(fd, getattr(fcntl, 'F_SETPIPE_SZ', 1031), 1 << 20)
    except (ImportError, OSError):
        pass
    # The protocol owns the original stdout; anything printed (torch warnings) goes to stderr.
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    out = os.fdopen(proto_fd, 'wb', buffering=1 << 20)
    inp = os.fdopen(os.dup(0), 'rb', buffering=1 << 20)
    try:
        return serve(inp, out)
    except ProtocolError as e:
        log('protocol error:', e)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == '__main__':
    sys.exit(main())

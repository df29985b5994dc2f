#!/usr/bin/env python3
"""FAKE GPU worker for tests: speaks gpu_worker.py's protocol (imported from it, no torch)
but computes nothing on a GPU. Its behaviour comes from argv[1]:

  echo        RESULT holds the RUN's tensors unchanged (protocol round trip)
  crash-once  the first RUN exits the process (code 9), later workers echo
  crash       every RUN exits the process
  hang-once   the first RUN never answers; later workers echo
  oom-once    the first RUN answers ERROR "CUDA out of memory" (fatal) and exits
  soft-error  every RUN answers a non-fatal ERROR
  fail-load   LOAD answers ERROR
  garbage     writes bytes that are no frame

"-once" behaviour is remembered in the file named by argv[2] (created on first use).
--run-ms=N (anywhere after the mode) makes every RUN take N ms, so that a second RUN can be
staged behind a running one; RESULT meta then holds started_ns as gpu_worker.py computes it.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'src', 'server'))
import gpu_worker as p  # noqa: E402


def first_time(flag):
    if os.path.exists(flag):
        return False
    open(flag, 'w').close()
    return True


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--run-ms=')]
    run_s = sum(int(a.split('=', 1)[1]) for a in sys.argv[1:] if a.startswith('--run-ms=')) / 1000
    mode = args[0]
    flag = args[1] if len(args) > 1 else ''
    inp = os.fdopen(0, 'rb')
    out = os.fdopen(1, 'wb')
    frame = p.read_frame(inp)
    if frame is None:
        return 0
    if mode == 'garbage':
        out.write(b'this is not a frame at all, padding...')
        out.flush()
        time.sleep(5)
        return 0
    if mode == 'fail-load':
        p.write_frame(out, p.ERROR, frame[1], {'message': 'fake: cannot load', 'fatal': True})
        return 1
    p.write_frame(out, p.LOADED, frame[1], {'precision': frame[2].get('precision'), 'cache_hit': False, 'build_s': 0.01,
                                            'graph_capture_s': 0.0, 'graph_sizes': [], 'fake': True, 'pid': os.getpid()})
    while True:
        previous_end = time.monotonic_ns()
        frame = p.read_frame(inp)
        if frame is None or frame[0] == p.CLOSE:
            return 0
        t, i, meta, payload = frame
        started = p.started_ns(meta, previous_end)
        once = mode.endswith('-once') and first_time(flag)
        if mode == 'crash' or (mode == 'crash-once' and once):
            os._exit(9)
        if mode == 'hang-once' and once:
            time.sleep(3600)
        if mode == 'oom-once' and once:
            p.write_frame(out, p.ERROR, i, {'message': 'CUDA out of memory: fake', 'fatal': True})
            return 3
        if mode == 'soft-error':
            p.write_frame(out, p.ERROR, i, {'message': 'fake: bad batch', 'fatal': False})
            continue
        tensors = p.split_tensors(meta, payload)
        built = time.monotonic_ns()
        time.sleep(run_s)
        p.write_frame(out, p.RESULT, i, {'started_ns': started, 'built_ns': built, 'ran_ns': time.monotonic_ns(), 'pid': os.getpid()},
                      [(n, d, s, bytes(mv)) for n, d, s, mv in tensors])


if __name__ == '__main__':
    sys.exit(main())

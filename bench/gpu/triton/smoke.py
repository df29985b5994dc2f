#!/usr/bin/env python3
"""Smoke test of the real Triton serving resnet50 (Python backend, GPU) over HTTP, stdlib only.

    python3 bench/gpu/triton/smoke.py --url 127.0.0.1:18000 [--wait 240]

Waits for the model, infers batches of 1 and 32 (FP32), reloads the model with
default_model_filename model_fp16.py (the FP16 variant, as tanalyze writes it) and infers
again, then prints one JSON line: load times, outputs' first values, the FP16/FP32 difference,
and the server's mean compute time per batch from its statistics.
"""
import argparse
import json
import struct
import sys
import time
import http.client


def call(url, path, body=None, headers=None, timeout=300):
    # http.client, not urllib: urllib honours http_proxy, which a GPU machine may set (the first
    # device run got answers without Triton's binary-data header through urllib).
    host, port = url.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request("POST" if body is not None else "GET", path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if r.status >= 400:
            raise RuntimeError(f"{path}: HTTP {r.status}: {data[:300]!r}")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def wait_ready(url, model, seconds):
    t0 = time.time()
    while time.time() - t0 < seconds:
        try:
            if call(url, f"/v2/models/{model}/ready", timeout=5)[0] == 200:
                return time.time() - t0
        except (RuntimeError, ConnectionError, OSError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"smoke: {model} not ready after {seconds} s")


def infer(url, model, bs, value=0.5):
    data = struct.pack("<f", value) * (bs * 3 * 224 * 224)
    head = json.dumps({
        "inputs": [{"name": "INPUT__0", "shape": [bs, 3, 224, 224], "datatype": "FP32", "parameters": {"binary_data_size": len(data)}}],
        "outputs": [{"name": "OUTPUT__0", "parameters": {"binary_data": True}}],
    }).encode()
    _, hdr, body = call(url, f"/v2/models/{model}/infer", head + data,
                        {"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"})
    n = hdr.get("inference-header-content-length")
    if n is None:
        raise RuntimeError(f"infer: no Inference-Header-Content-Length in the answer (headers {hdr}); body starts {body[:300]!r}")
    out = body[int(n):]
    return struct.unpack(f"<{len(out) // 4}f", out)


def stats(url, model):
    s = json.loads(call(url, f"/v2/models/{model}/stats")[2])["model_stats"][0]
    inf = s["inference_stats"]
    rows = []
    for b in s.get("batch_stats", []):
        c = b["compute_infer"]
        rows.append({"batch": b["batch_size"], "n": c["count"], "compute_infer_ms": round(c["ns"] / max(1, c["count"]) / 1e6, 3)})
    return {"success": inf["success"]["count"], "batches": rows}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="127.0.0.1:18000")
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--wait", type=float, default=240)
    a = ap.parse_args()
    res = {"ready_s": round(wait_ready(a.url, a.model, a.wait), 1)}
    o1 = infer(a.url, a.model, 1)
    o32 = infer(a.url, a.model, 32)
    res["fp32_out0"] = [round(v, 4) for v in o1[:3]]
    res["fp32_bs32_rows_equal"] = max(abs(x - y) for x, y in zip(o32[:1000], o32[31000:32000])) < 1e-3
    t = time.time()
    for _ in range(10):
        infer(a.url, a.model, 32)
    res["fp32_http_bs32_ms"] = round((time.time() - t) * 100, 1)
    res["fp32_stats"] = stats(a.url, a.model)
    cfg = json.loads(call(a.url, f"/v2/models/{a.model}/config")[2])
    cfg["default_model_filename"] = "model_fp16.py"
    t = time.time()
    call(a.url, f"/v2/repository/models/{a.model}/load", json.dumps({"parameters": {"config": json.dumps(cfg)}}).encode(), {"Content-Type": "application/json"})
    res["fp16_reload_s"] = round(time.time() - t, 1)
    h1 = infer(a.url, a.model, 1)
    res["fp16_out0"] = [round(v, 4) for v in h1[:3]]
    res["fp16_vs_fp32_max_abs_diff"] = round(max(abs(x - y) for x, y in zip(o1, h1)), 4)
    res["fp16_vs_fp32_max_abs_fp32"] = round(max(abs(x) for x in o1), 4)
    t = time.time()
    for _ in range(10):
        infer(a.url, a.model, 32)
    res["fp16_http_bs32_ms"] = round((time.time() - t) * 100, 1)
    res["fp16_stats"] = stats(a.url, a.model)
    print(json.dumps(res))
    ok = len(o1) == 1000 and len(h1) == 1000 and res["fp32_bs32_rows_equal"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

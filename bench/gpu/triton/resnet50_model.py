"""ResNet-50 on the GPU for Triton's Python backend (bench/gpu/triton).

torchvision's resnet50 with RANDOM weights (the device has no network; the figures are
about serving, not accuracy), seeded so that every instance computes the same function.

Precision comes from the file Triton loaded, as tanalyze names per-precision model files:
`default_model_filename` model.py is FP32 (TF32 off, as the embedded GPU worker runs
FP32), model_fp16.py FP16, model_bf16.py BF16 (underscores: the Python backend imports
the file as the module <version>.<name>, so a dot in the name fails). make_repo.py writes it under each
of those names; the config Triton passes in says which one this instance is.

Per batch size 1..max_batch_size one CUDA graph is captured at initialize (they share
one memory pool; the input cast to FP16/BF16 is inside the graph), so a batch costs one
graph replay instead of ~160 Python-dispatched kernels. Inputs: Triton hands the batched
requests' FP32 tensors in its shared memory; each is viewed through DLPack without a copy,
copied once into a pinned staging buffer, and moved to the GPU with one asynchronous copy
per batch. Outputs come back the same way (4 KB an image).
"""
import json
import re
import time

import torch
import torchvision
import triton_python_backend_utils as pb_utils

DTYPES = {"FP32": torch.float32, "FP16": torch.float16, "BF16": torch.bfloat16}


def precision_of(filename):
    """model_fp16.py -> FP16 (bf16 alike); anything else FP32 (the rule of tanalyze's precisionOfModelFile)."""
    m = re.search(r"(?:^|[._-])(fp16|bf16|int8)(?=[._-]|$)", filename or "", re.IGNORECASE)
    return m.group(1).upper() if m else "FP32"


class TritonPythonModel:
    def initialize(self, args):
        t0 = time.time()
        cfg = json.loads(args["model_config"])
        self.name = args["model_name"]
        self.max_bs = int(cfg.get("max_batch_size", 0))
        if self.max_bs < 1:
            raise pb_utils.TritonModelException(f"{self.name}: max_batch_size must be 1 or more (batched [N,3,224,224] inputs); got {self.max_bs}")
        self.precision = precision_of(cfg.get("default_model_filename") or "model.py")
        if self.precision not in DTYPES:
            raise pb_utils.TritonModelException(f"{self.name}: precision {self.precision} is unavailable in this model (FP32, FP16, BF16)")
        dtype = DTYPES[self.precision]
        if args.get("model_instance_kind") != "GPU":
            raise pb_utils.TritonModelException(f"{self.name}: this model runs on the GPU only (instance_group kind KIND_GPU); got {args.get('model_instance_kind')}")
        dev = torch.device("cuda", int(args["model_instance_device_id"]))
        torch.cuda.set_device(dev)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = False
        torch.manual_seed(0)
        with torch.device(dev):
            model = torchvision.models.resnet50()
        model = model.eval().to(dtype)
        t_model = time.time() - t0

        self.dev = dev
        self.stream = torch.cuda.Stream(device=dev)
        self.host_in = torch.empty((self.max_bs, 3, 224, 224), dtype=torch.float32, pin_memory=True)
        self.host_out = torch.empty((self.max_bs, 1000), dtype=torch.float32, pin_memory=True)
        self.dev_in = torch.zeros((self.max_bs, 3, 224, 224), dtype=torch.float32, device=dev)
        self.graphs, self.outs = {}, {}
        pool = None
        with torch.no_grad(), torch.cuda.stream(self.stream):
            for _ in range(3):  # warm-up: cuDNN/cuBLAS handles and workspaces before any capture
                model(self.dev_in.to(dtype))
            # Largest first: the shared pool is sized by the largest batch, the others fit in it.
            for bs in range(self.max_bs, 0, -1):
                x = self.dev_in[:bs]
                model(x.to(dtype))  # warm-up of this shape on the capture stream
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g, pool=pool, stream=self.stream):
                    out = model(x.to(dtype)).float()
                pool = g.pool()
                self.graphs[bs], self.outs[bs] = g, out
        self.stream.synchronize()
        mib = torch.cuda.memory_reserved(dev) / 2**20
        print(f"[{self.name}] {self.precision} on {dev}: model {t_model:.1f} s, {self.max_bs} CUDA graphs (batch 1..{self.max_bs}) "
              f"captured, ready in {time.time() - t0:.1f} s, {mib:.0f} MiB reserved", flush=True)

    def execute(self, requests):
        sizes = []
        host_spans = []  # rows staged in host_in (inputs in CPU memory: the usual case over gRPC)
        n = 0
        for r in requests:
            t = pb_utils.get_input_tensor_by_name(r, "INPUT__0")
            x = torch.from_dlpack(t.to_dlpack())  # a view of Triton's buffer, no copy
            k = int(x.shape[0])
            if n + k > self.max_bs:
                raise pb_utils.TritonModelException(f"{self.name}: batch of {n + k} is above max_batch_size {self.max_bs}")
            if x.is_cuda:
                self.dev_in[n:n + k].copy_(x)
            else:
                self.host_in[n:n + k].copy_(x)
                host_spans.append((n, n + k))
            sizes.append(k)
            n += k
        with torch.cuda.stream(self.stream):
            if len(host_spans) == len(sizes):  # all on the host: one copy to the GPU for the batch
                self.dev_in[:n].copy_(self.host_in[:n], non_blocking=True)
            else:
                for a, b in host_spans:
                    self.dev_in[a:b].copy_(self.host_in[a:b], non_blocking=True)
            self.graphs[n].replay()
            self.host_out[:n].copy_(self.outs[n], non_blocking=True)
        self.stream.synchronize()
        out = self.host_out[:n].numpy()
        responses = []
        a = 0
        for k in sizes:
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("OUTPUT__0", out[a:a + k].copy())]))
            a += k
        return responses

    def finalize(self):
        self.graphs.clear()
        self.outs.clear()

#!/usr/bin/env python3
"""Writes a TorchScript ResNet-50 with random weights into a Triton model repository.

    python3 scripts/make-resnet50-torchscript.py <repo> [--max-batch-size 32] [--name resnet50]

<repo>/<name>/1/model.pt is torchvision's resnet50(weights=None) (random weights, nothing
downloaded), traced, in eval mode, FP32. model.fp16.pt and model.bf16.pt beside it are
links to the same file: tanalyze's GPU executor reads the precision from the file name
and casts the model itself (the search picks a precision by file, as model.fp16.onnx for
ONNX models). config.pbtxt: platform pytorch_libtorch, input [3,224,224] FP32, output
[1000] FP32, one KIND_GPU instance, no dynamic batching.
"""
import argparse
import os
import time

CONFIG = '''name: "{name}"
platform: "pytorch_libtorch"
max_batch_size: {mbs}
default_model_filename: "model.pt"
input [
  {{
    name: "INPUT__0"
    data_type: TYPE_FP32
    dims: [ 3, 224, 224 ]
  }}
]
output [
  {{
    name: "OUTPUT__0"
    data_type: TYPE_FP32
    dims: [ 1000 ]
  }}
]
instance_group [
  {{
    count: 1
    kind: KIND_GPU
  }}
]
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('repo')
    ap.add_argument('--name', default='resnet50')
    ap.add_argument('--max-batch-size', type=int, default=32)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    import torch
    import torchvision
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    model = torchvision.models.resnet50(weights=None).eval()
    with torch.no_grad():
        traced = torch.jit.trace(model, torch.randn(1, 3, 224, 224))
    vdir = os.path.join(a.repo, a.name, '1')
    os.makedirs(vdir, exist_ok=True)
    path = os.path.join(vdir, 'model.pt')
    traced.save(path)
    for p in ('fp16', 'bf16'):
        link = os.path.join(vdir, 'model.%s.pt' % p)
        if os.path.lexists(link):
            os.remove(link)
        os.symlink('model.pt', link)
    with open(os.path.join(a.repo, a.name, 'config.pbtxt'), 'w') as f:
        f.write(CONFIG.format(name=a.name, mbs=a.max_batch_size))
    print('wrote %s (%.1f MB, torch %s, torchvision %s) in %.1f s' % (
        path, os.path.getsize(path) / 1e6, torch.__version__, torchvision.__version__, time.perf_counter() - t0))


if __name__ == '__main__':
    main()

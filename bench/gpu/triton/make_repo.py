#!/usr/bin/env python3
"""Writes a Triton model repository with ResNet-50 served by the Python backend on the GPU.

    python3 bench/gpu/triton/make_repo.py OUT_DIR [--max-batch-size 32]

OUT_DIR/resnet50/config.pbtxt and OUT_DIR/resnet50/1/{model.py, model_fp16.py, model_bf16.py}:
the same code (resnet50_model.py) under the names tanalyze gives per-precision model files;
the model reads its precision from the `default_model_filename` Triton loaded. Weights are
random (no network on the GPU machine): see resnet50_model.py.
"""
import argparse
import os
import shutil

CONFIG = """name: "resnet50"
backend: "python"
max_batch_size: {mbs}
default_model_filename: "model.py"
input [ {{ name: "INPUT__0" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] }} ]
output [ {{ name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 1000 ] }} ]
instance_group [ {{ count: 1 kind: KIND_GPU }} ]
dynamic_batching {{ max_queue_delay_microseconds: 0 }}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--max-batch-size", type=int, default=32)
    a = ap.parse_args()
    model_dir = os.path.join(a.out_dir, "resnet50")
    version = os.path.join(model_dir, "1")
    os.makedirs(version, exist_ok=True)
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resnet50_model.py")
    for name in ("model.py", "model_fp16.py", "model_bf16.py"):
        shutil.copyfile(src, os.path.join(version, name))
    with open(os.path.join(model_dir, "config.pbtxt"), "w") as f:
        f.write(CONFIG.format(mbs=a.max_batch_size))
    print(f"wrote {model_dir} (python backend, KIND_GPU, max_batch_size {a.max_batch_size}; model.py FP32, model_fp16.py, model_bf16.py)")


if __name__ == "__main__":
    main()

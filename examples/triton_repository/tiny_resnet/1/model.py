"""tiny_resnet on Triton's Python backend: the ONNX file of
examples/model_repository/tiny_resnet, run by ONNX Runtime on the CPU.

Batching is Triton's: with dynamic_batching in config.pbtxt, Triton's scheduler hands
execute() several requests at once, and they go through ONNX Runtime as one batch (their
inputs concatenated along the batch dimension), then are split back per request.

1/model.onnx is a symbolic link to the ONNX model's file in examples/model_repository, so
both repositories serve the same network; Triton's local file system follows the link.
"""
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        model_file = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        self.session = ort.InferenceSession(model_file, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def execute(self, requests):
        inputs = [pb_utils.get_input_tensor_by_name(r, "input").as_numpy() for r in requests]
        sizes = [x.shape[0] for x in inputs]
        batch = inputs[0] if len(inputs) == 1 else np.concatenate(inputs, axis=0)
        logits = self.session.run([self.output_name], {self.input_name: batch})[0]
        responses = []
        start = 0
        for size in sizes:
            part = logits[start : start + size]
            start += size
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("logits", part)]))
        return responses

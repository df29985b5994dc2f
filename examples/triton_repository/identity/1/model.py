"""identity on Triton's Python backend: output = input, for fast tests of the server paths
(load, reload, statistics, metrics) without a network's compute time."""
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [
            pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor("output", pb_utils.get_input_tensor_by_name(r, "input").as_numpy())]
            )
            for r in requests
        ]

"""Tiny ONNX models for the hallo tests, written as raw protobuf (the `onnx` package is not a
dependency and `torch.onnx.export` needs it).

Only the fields the models below use are encoded (onnx.proto, IR version 8, opset 13):
ModelProto{ir_version=1, opset_import=8, graph=7}, GraphProto{node=1, name=2, initializer=5,
input=11, output=12}, NodeProto{input=1, output=2, name=3, op_type=4, attribute=5},
AttributeProto{name=1, i=3, ints=8, type=20}, TensorProto{dims=1, data_type=2, name=8,
raw_data=9}, ValueInfoProto{name=1, type=2}, TypeProto{tensor_type=1},
TypeProto.Tensor{elem_type=1, shape=2}, TensorShapeProto{dim=1}, Dimension{dim_value=1, dim_param=2}.
"""

from __future__ import annotations

import numpy as np

FLOAT, INT64 = 1, 7
ATTR_INT, ATTR_INTS = 2, 7


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 as two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _str(field: int, text: str) -> bytes:
    return _bytes(field, text.encode())


def tensor(name: str, array: np.ndarray) -> bytes:
    kind = INT64 if array.dtype == np.int64 else FLOAT
    array = array.astype(np.int64 if kind == INT64 else np.float32)
    return b"".join(_int(1, d) for d in array.shape) + _int(2, kind) + _str(8, name) + _bytes(9, array.tobytes())


def node(op: str, inputs: list[str], outputs: list[str], name: str, **attributes) -> bytes:
    body = b"".join(_str(1, i) for i in inputs) + b"".join(_str(2, o) for o in outputs) + _str(3, name) + _str(4, op)
    for key, value in attributes.items():
        if isinstance(value, (list, tuple)):
            attribute = _str(1, key) + b"".join(_int(8, v) for v in value) + _int(20, ATTR_INTS)
        else:
            attribute = _str(1, key) + _int(3, value) + _int(20, ATTR_INT)
        body += _bytes(5, attribute)
    return body


def value_info(name: str, shape: tuple[int | str, ...]) -> bytes:
    """A float tensor's name and shape; a str dimension is symbolic (dim_param)."""
    dims = b"".join(_bytes(1, _str(2, d) if isinstance(d, str) else _int(1, d)) for d in shape)
    tensor_type = _int(1, FLOAT) + _bytes(2, dims)
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


def model(nodes: list[bytes], initializers: list[bytes], inputs: list[bytes], outputs: list[bytes]) -> bytes:
    graph = (
        b"".join(_bytes(1, n) for n in nodes)
        + _str(2, "tiny")
        + b"".join(_bytes(5, t) for t in initializers)
        + b"".join(_bytes(11, i) for i in inputs)
        + b"".join(_bytes(12, o) for o in outputs)
    )
    opset = _str(1, "") + _int(2, 13)
    return _int(1, 8) + _bytes(8, opset) + _bytes(7, graph)


def scrfd(side: int = 64, score_bias: float = 3.0, box_bias: float = 2.0, seed: int = 0, weight_scale: float = 0.1) -> bytes:
    """An SCRFD-shaped detector (9 outputs: scores, boxes, keypoints for strides 8/16/32, two
    anchors per position) on a fixed (1, 3, side, side) input: per stride, average pooling and
    1×1 convolutions. Distances are `box_bias` (+ a little image-dependent noise) strides."""
    rng = np.random.default_rng(seed)
    keypoint_bias = np.array([-1, -1, 1, -1, 0, 0, -0.7, 0.8, 0.7, 0.8], np.float32)
    nodes, initializers, outputs = [], [], {"score": [], "bbox": [], "kps": []}
    for stride in (8, 16, 32):
        rows = (side // stride) ** 2 * 2
        pooled = f"pool{stride}"
        nodes.append(node("AveragePool", ["image"], [pooled], f"AveragePool_{stride}", kernel_shape=[stride, stride], strides=[stride, stride]))
        for head, width, bias in (("score", 1, [score_bias]), ("bbox", 4, [box_bias] * 4), ("kps", 10, keypoint_bias)):
            weight = (rng.standard_normal((2 * width, 3, 1, 1)) * weight_scale).astype(np.float32)
            initializers += [tensor(f"{head}{stride}_w", weight), tensor(f"{head}{stride}_b", np.tile(np.asarray(bias, np.float32), 2))]
            initializers.append(tensor(f"{head}{stride}_shape", np.array([-1, width], np.int64)))
            conv, moved, flat = f"{head}{stride}_conv", f"{head}{stride}_nhwc", f"{head}_{stride}"
            nodes.append(node("Conv", [pooled, f"{head}{stride}_w", f"{head}{stride}_b"], [conv], f"Conv_{head}{stride}"))
            nodes.append(node("Transpose", [conv], [moved], f"Transpose_{head}{stride}", perm=[0, 2, 3, 1]))
            if head == "score":
                nodes.append(node("Reshape", [moved, f"{head}{stride}_shape"], [flat + "_logit"], f"Reshape_{head}{stride}"))
                nodes.append(node("Sigmoid", [flat + "_logit"], [flat], f"Sigmoid_{stride}"))
            else:
                nodes.append(node("Reshape", [moved, f"{head}{stride}_shape"], [flat], f"Reshape_{head}{stride}"))
            outputs[head].append(value_info(flat, (rows, width)))
    ordered = outputs["score"] + outputs["bbox"] + outputs["kps"]
    return model(nodes, initializers, [value_info("image", (1, 3, side, side))], ordered)


def arcface(side: int = 112, dim: int = 512, seed: int = 1, first_ops: tuple[str, ...] = ()) -> bytes:
    """An ArcFace-shaped recogniser: (1, 3, side, side) → (1, dim) through global average pooling
    and a linear layer. `first_ops` names extra identity-like leading nodes (e.g. ("Sub", "Mul"),
    the signature of MXNet exports that insightface normalises differently)."""
    rng = np.random.default_rng(seed)
    nodes, initializers, current = [], [], "face"
    for i, op in enumerate(first_ops):
        initializers.append(tensor(f"c{i}", np.array([0.0 if op == "Sub" else 1.0], np.float32)))
        nodes.append(node(op, [current, f"c{i}"], [f"pre{i}"], f"{op}_{i}"))
        current = f"pre{i}"
    initializers += [
        tensor("fc_w", (rng.standard_normal((3, dim)) * 0.5).astype(np.float32)),
        tensor("fc_b", (rng.standard_normal(dim) * 0.1).astype(np.float32)),
    ]
    nodes += [
        node("GlobalAveragePool", [current], ["gap"], "GlobalAveragePool_0"),
        node("Flatten", ["gap"], ["flat"], "Flatten_1"),
        node("Gemm", ["flat", "fc_w", "fc_b"], ["embedding"], "Gemm_2"),
    ]
    return model(nodes, initializers, [value_info("face", (1, 3, side, side))], [value_info("embedding", (1, dim))])


def mdx(dim_f: int | str, dim_t: int | str, gain: float = 1.0) -> bytes:
    """An MDX-Net-shaped separator: (1, 4, dim_f, dim_t) spectrogram planes → the same × gain
    (str sizes are left symbolic in the model's signature)."""
    initializers = [tensor("gain", np.array([gain], np.float32))]
    nodes = [node("Mul", ["input", "gain"], ["output"], "Mul_0")]
    shape = ("batch", 4, dim_f, dim_t)
    return model(nodes, initializers, [value_info("input", shape)], [value_info("output", shape)])

"""A plain numpy evaluator for the few ONNX ops the Fashion-MNIST bundles use (Conv, BatchNormalization,
Relu, Add, MaxPool, GlobalAveragePool, Flatten, Gemm, Concat, Identity), in float64. It is the
independent reference the nonn training checks its exported graphs against: the installed onnx
(1.12) has no onnx.reference, and comparing PyTorch with PyTorch would prove nothing. It also
counts multiply-accumulates the way cleave's cost report does (Conv and Gemm only).

Any batch size runs through a graph exported for batch 1: every op here is batch-agnostic."""
import numpy as np
import onnx
from onnx import numpy_helper

SUPPORTED = {"Conv", "BatchNormalization", "Relu", "Add", "MaxPool", "GlobalAveragePool", "Flatten", "Gemm",
             "Concat", "Identity"}


class UnsupportedGraph(ValueError):
    """The graph uses an op or attribute this evaluator does not implement."""


def _attributes(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _windows(x, kernel, strides, pads, fill):
    """x [N,C,H,W] -> sliding windows [N,C,Ho,Wo,kh,kw] after padding with `fill`."""
    top, left, bottom, right = pads
    x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    w = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(2, 3))
    return w[:, :, ::strides[0], ::strides[1]]


def _conv(node, x, weight, bias=None):
    a = _attributes(node)
    kernel = tuple(weight.shape[2:])
    if a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])) or \
            a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise UnsupportedGraph(f"Conv '{node.name}': only group 1, dilation 1 and explicit pads are implemented")
    pads = a.get("pads", [0, 0, 0, 0])
    windows = _windows(x, kernel, a.get("strides", [1, 1]), pads, 0.0)
    y = np.einsum("nchwij,ocij->nohw", windows, weight, optimize=True)
    macs = int(np.prod(y.shape[1:])) * weight.shape[1] * kernel[0] * kernel[1]
    return (y if bias is None else y + bias.reshape(1, -1, 1, 1)), macs


def _max_pool(node, x):
    a = _attributes(node)
    if a.get("ceil_mode", 0) != 0 or any(d != 1 for d in a.get("dilations", [1, 1])):
        raise UnsupportedGraph(f"MaxPool '{node.name}': ceil_mode and dilation are not implemented")
    kernel = tuple(a["kernel_shape"])
    windows = _windows(x, kernel, a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0]), -np.inf)
    return windows.max(axis=(4, 5))


def _gemm(node, a_, b_, c=None):
    a = _attributes(node)
    if a.get("transA", 0):
        a_ = a_.T
    if a.get("transB", 0):
        b_ = b_.T
    y = a.get("alpha", 1.0) * (a_ @ b_)
    if c is not None:
        y = y + a.get("beta", 1.0) * c
    return y, a_.shape[1] * b_.shape[1]  # MACs per row of A, i.e. per image


def _batch_norm(node, x, scale, bias, mean, var):
    eps = _attributes(node).get("epsilon", 1e-5)
    shape = (1, -1, 1, 1)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * scale.reshape(shape) + bias.reshape(shape)


def run(model, feeds):
    """Evaluates `model` (an onnx.ModelProto) on `feeds` (input name -> array, any batch size).
    Returns (outputs: name -> float64 array, macs per image)."""
    values = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in model.graph.initializer}
    values.update({name: np.asarray(v, dtype=np.float64) for name, v in feeds.items()})
    macs = 0
    for node in model.graph.node:
        if node.op_type not in SUPPORTED:
            raise UnsupportedGraph(f"node '{node.name}': op {node.op_type} is not implemented")
        x = [values[name] for name in node.input if name]
        if node.op_type == "Conv":
            y, m = _conv(node, *x)
            macs += m
        elif node.op_type == "Gemm":
            y, m = _gemm(node, *x)
            macs += m
        elif node.op_type == "BatchNormalization":
            y = _batch_norm(node, *x)
        elif node.op_type == "Relu":
            y = np.maximum(x[0], 0.0)
        elif node.op_type == "Add":
            y = x[0] + x[1]
        elif node.op_type == "MaxPool":
            y = _max_pool(node, x[0])
        elif node.op_type == "GlobalAveragePool":
            y = x[0].mean(axis=(2, 3), keepdims=True)
        elif node.op_type == "Flatten":
            axis = _attributes(node).get("axis", 1)
            y = x[0].reshape(int(np.prod(x[0].shape[:axis])), -1)
        elif node.op_type == "Concat":
            y = np.concatenate(x, axis=_attributes(node)["axis"])
        else:  # Identity
            y = x[0]
        values[node.output[0]] = y
    return {o.name: values[o.name] for o in model.graph.output}, macs


def run_batched(model, input_name, images, batch=500):
    """The graph's single output on `images`, `batch` images at a time (keeps im2col memory small)."""
    output = model.graph.output[0].name
    return np.concatenate([run(model, {input_name: images[i:i + batch]})[0][output]
                           for i in range(0, len(images), batch)])


def macs_per_image(model, feeds):
    """Conv and Gemm multiply-accumulates for one input (feeds: name -> array with batch 1)."""
    return run(model, feeds)[1]

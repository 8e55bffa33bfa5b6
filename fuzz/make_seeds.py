#!/usr/bin/python3
"""Writes the seed corpus of every fuzz target except the Cap'n Proto ones (fuzz_seed_generator
writes those): the repository's own configs and traces, tiny ONNX models and .npy files, key
files, plus a few malformed inputs each. Run from anywhere: fuzz/make_seeds.py"""
import io
import pathlib
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
CORPUS = FUZZ / "corpus"


def target(name):
    d = CORPUS / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def onnx_seeds():
    d = target("onnx_model")
    # The small real model (under 100 KB), as agents receive its stages.
    shutil.copy(ROOT / "models/fmnist-small/model.onnx", d / "fmnist_small.onnx")
    rng = np.random.default_rng(7)

    def init(name, shape, dtype=np.float32):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(dtype), name)

    def save(name, nodes, inputs, outputs, inits, opset=13):
        graph = helper.make_graph(nodes, name, inputs, outputs, inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 8
        (d / f"{name}.onnx").write_bytes(model.SerializeToString())
        return model

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])

    def out(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
    # A small CNN: conv, batchnorm, relu, pool, flatten, gemm, softmax.
    cnn = save("cnn", [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"], name="bn1"),
        helper.make_node("Relu", ["n"], ["r"], name="relu1"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["g"], name="fc", transB=1),
        helper.make_node("Softmax", ["g"], ["y"], name="softmax", axis=1),
    ], [x], [out("y", ["N", 10])], [init("w", (4, 1, 3, 3)), init("b", (4,)), init("s", (4,)), init("bb", (4,)), init("m", (4,)),
                 numpy_helper.from_array(np.abs(rng.standard_normal(4)).astype(np.float32) + 0.5, "v"),
                 init("fw", (10, 64)), init("fb", (10,))])
    # Shape arithmetic computed at load: Shape, Gather, Concat, Reshape, Transpose, Unsqueeze.
    save("shape_ops", [
        helper.make_node("Shape", ["x"], ["sh"]),
        helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 1, 3, 2]),
        helper.make_node("Add", ["t", "x"], ["sum"]),
        helper.make_node("ReduceMean", ["sum"], ["y"], axes=[2, 3], keepdims=0),
    ], [x], [out("y", ["N", 1]), out("flat", ["N", 64])],
        [numpy_helper.from_array(np.array(0, np.int64), "zero"), numpy_helper.from_array(np.array([0], np.int64), "axes"),
         numpy_helper.from_array(np.array([-1], np.int64), "minus1")])
    # Depthwise conv, pads, slices, clip, global pooling, constants of shape.
    save("depthwise", [
        helper.make_node("Pad", ["x", "pads"], ["xp"], mode="constant"),
        helper.make_node("Conv", ["xp", "dw"], ["c"], group=1, kernel_shape=[3, 3], strides=[2, 2]),
        helper.make_node("Clip", ["c", "lo", "hi"], ["cl"]),
        helper.make_node("Slice", ["cl", "starts", "ends", "sax"], ["sl"]),
        helper.make_node("GlobalAveragePool", ["sl"], ["gp"]),
        helper.make_node("ConstantOfShape", ["cs"], ["k"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])),
        helper.make_node("Mul", ["gp", "k"], ["y"]),
    ], [x], [out("y", ["N", 1, 1, 1])], [numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads"), init("dw", (1, 1, 3, 3)),
                  numpy_helper.from_array(np.array(0, np.float32), "lo"), numpy_helper.from_array(np.array(6, np.float32), "hi"),
                  numpy_helper.from_array(np.array([0], np.int64), "starts"),
                  numpy_helper.from_array(np.array([2], np.int64), "ends"),
                  numpy_helper.from_array(np.array([2], np.int64), "sax"),
                  numpy_helper.from_array(np.array([1, 1, 1, 1], np.int64), "cs")], opset=11)
    # Malformed: truncated, an op cleave does not run, an unsupported opset, a bad initializer size.
    data = cnn.SerializeToString()
    (d / "bad_truncated.onnx").write_bytes(data[: len(data) // 2])
    bad = onnx.ModelProto()
    bad.CopyFrom(cnn)
    bad.graph.node[2].op_type = "Elu"
    (d / "bad_unsupported_op.onnx").write_bytes(bad.SerializeToString())
    bad.CopyFrom(cnn)
    bad.opset_import[0].version = 99
    (d / "bad_opset.onnx").write_bytes(bad.SerializeToString())
    bad.CopyFrom(cnn)
    bad.graph.initializer[0].dims[0] = 1 << 40
    (d / "bad_initializer.onnx").write_bytes(bad.SerializeToString())


def npy_seeds():
    d = target("npy")
    shutil.copy(ROOT / "models/fmnist-small/sample.npy", d / "fmnist_sample.npy")
    rng = np.random.default_rng(11)
    arrays = {
        "f32_2x3": rng.standard_normal((2, 3)).astype(np.float32),
        "i64_vector": np.arange(5, dtype=np.int64),
        "u8_image": rng.integers(0, 255, (1, 3, 4, 4), dtype=np.uint8),
        "bool": np.array([True, False, True]),
        "scalar": np.array(3.5, np.float32),
        "empty": np.zeros((0, 4), np.float32),
        "f16": rng.standard_normal(4).astype(np.float16),
        "big_endian": np.arange(4, dtype=">f4"),
        "fortran": np.asfortranarray(rng.standard_normal((2, 3)).astype(np.float32)),
        "f64": rng.standard_normal(3),
    }
    for name, a in arrays.items():
        buf = io.BytesIO()
        np.save(buf, a)
        (d / f"{name}.npy").write_bytes(buf.getvalue())
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arrays["f32_2x3"], version=(2, 0))
    (d / "version2.npy").write_bytes(buf.getvalue())
    good = (d / "f32_2x3.npy").read_bytes()
    (d / "bad_truncated.npy").write_bytes(good[:-5])
    (d / "bad_magic.npy").write_bytes(b"\x93NUMPX" + good[6:])
    (d / "bad_header.npy").write_bytes(good.replace(b"'shape': (2, 3)", b"'shape': (2, -3)"))


def config_seeds():
    d = target("topology_toml")
    for f in sorted((ROOT / "configs").glob("*.toml")):
        shutil.copy(f, d / f.name)
    home = (ROOT / "configs/home-lab.toml").read_text()
    (d / "bad_types.toml").write_text(home.replace('"25Mbps"', "25", 1).replace("[model]", "[model]\nbogus = 1"))
    (d / "bad_syntax.toml").write_text(home[: len(home) // 3] + "\n[[device]\nname = \n")

    d = target("agent_toml")
    example = """name = "pi1"
daemon = "tcp://10.0.0.2:7701"
daemon_key = "keys/daemon.pub"
keys = "keys"
data = "tcp://0.0.0.0:7710"
advertise = "tcp://10.0.0.5:7710"
threads = 1
measure_seconds = 1.0
client = "tcp://127.0.0.1:7720"
client_keys = ["keys/app.pub"]
pace_compute = false

[[shape]]
peer = "pi2"
bandwidth = "20Mbps"
rtt = "5ms"

[[shape]]
peer = "cloud"
trace = "traces/wifi-steps.csv"
trace_start = 1795370000.0

[device]
kind = "pi"
macs = { default = "600M", conv = "3G", depthwise = "600M", gemm = "1.5G", elementwise = "600M" }
ram = "3GiB"
"""
    (d / "full.toml").write_text(example)
    (d / "minimal.toml").write_text('name = "pi1"\ndaemon = "tcp://127.0.0.1:7700"\ndaemon_key = "keys/daemon.pub"\n')
    (d / "bad_values.toml").write_text(example.replace("threads = 1", "threads = -4").replace('"3GiB"', '"lots"'))
    (d / "bad_syntax.toml").write_text('name = "pi1\n[[shape]\npeer = 3\n')

    d = target("bandwidth_trace")
    for f in sorted((ROOT / "configs/traces").glob("*.csv")):
        shutil.copy(f, d / f.name)
    (d / "single_row.csv").write_text("0,1000000,20\n")
    (d / "drop_out.csv").write_text("time_s,bandwidth_bps,rtt_ms\n0,0,5\n1.5,2e6,5 # back\n3,0,5\n")
    (d / "bad_order.csv").write_text("0,1e6,10\n2,1e6,10\n1,1e6,10\n")
    (d / "bad_fields.csv").write_text("time_s,bandwidth_bps,rtt_ms\n0,nan,10,4\nx,1e6\n")


def z85(data):
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
    out = ""
    for i in range(0, len(data), 4):
        value = int.from_bytes(data[i:i + 4], "big")
        out += "".join(alphabet[(value // 85 ** k) % 85] for k in range(4, -1, -1))
    return out


def key_seeds():
    d = target("key_file")
    rng = np.random.default_rng(5)
    key = z85(bytes(rng.integers(0, 256, 32, dtype=np.uint8)))
    (d / "public.pub").write_text(key + "\n")
    (d / "crlf.secret").write_text(key + "\r\n")
    (d / "no_newline.pub").write_text(key)
    (d / "bad_short.pub").write_text(key[:39] + "\n")
    (d / "bad_alphabet.pub").write_text(key[:10] + "~" + key[11:] + "\n")
    (d / "bad_overflow.pub").write_text("#####" + key[5:] + "\n")
    (d / "bad_long.pub").write_text(key * 4 + "\n")


if __name__ == "__main__":
    onnx_seeds()
    npy_seeds()
    config_seeds()
    key_seeds()

#!/usr/bin/python3
"""Trains models/fmnist-nonn-2 and models/fmnist-nonn-4: the teacher (models/fmnist-teacher) compressed
into a Network of Neural Networks (NoNN; Bhardwaj et al., "Memory- and Communication-Aware Model
Compression for Distributed Deep Learning Inference on IoT", CODES+ISSS 2019) of 2 and of 4 students.
Every student runs on its own device, reads the whole image and sends a few floats to a fusion graph.

  1. The teacher is rebuilt in PyTorch from model.onnx and checked against the file.
  2. Its last convolution's 64 filters form an activation network over the last 5,000 training
     images (held out: no student or fusion ever trains on them); Louvain splits it into K groups.
  3. Each student learns from the teacher by distillation (soft targets at temperature T, plus
     attention transfer from the teacher's filters of its own group onto its last feature map).
     All six students train in one loop so they share the teacher's forward pass.
  4. With the students frozen, a linear fusion layer learns to classify their concatenated features,
     with random "student dropout" so that an answer with students missing stays useful.
  5. Every graph is exported at opset 13, checked with onnx.checker and against a numpy evaluator of
     the ONNX files (nonn_reference.py) on 100 test images, and the accuracy table is measured on the
     full test set: with every student, each student alone, and each one missing.

Reproducible: fixed seeds, two threads, deterministic algorithms; one command for both bundles, under
30 minutes on two cores (the time measured and the machine's load go into each bundle.toml):
    nice -n 10 /usr/bin/python3 tools/train/train_fmnist_nonn.py models
"""
import os
import sys
import time

BEGIN = time.monotonic()
# Idle OpenMP threads sleep instead of spinning (see train_fmnist_teacher.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from onnx import numpy_helper  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402
import nonn_partition  # noqa: E402
import nonn_reference  # noqa: E402
import train_fmnist_teacher  # noqa: E402

SCRIPT = "tools/train/train_fmnist_nonn.py"
TEACHER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "fmnist-teacher")
TEACHER_TOP1 = 0.9256  # models/fmnist-teacher/bundle.toml
TEACHER_MAP = 6  # teacher[:6]: stem and the three residual blocks, ending in the 64x7x7 map it pools
THREADS = 2
HELD_OUT = 5000  # the last training images: the activation network's data, never trained on
# (students, student width, features per student): every student sends FEATURES floats; K * FEATURES = 64,
# as many as the teacher's own pooled features.
BUNDLES = ((2, 16, 32), (4, 12, 16))
EPOCHS = 8
BATCH = 256
EVAL_BATCH = 256  # larger batches run several times slower per image here: their activations leave the cache
TEACHER_CHUNK = 64  # the teacher's forward pass in training, for the same reason
MAX_LR = 0.1
WEIGHT_DECAY = 5e-4
TEMPERATURE = 4.0
SOFT_WEIGHT = 0.9  # of the distillation loss; the rest is cross-entropy with the labels
AT_WEIGHT = 500.0  # attention transfer: Zagoruyko and Komodakis's beta / 2, on the mean squared difference
FUSION_EPOCHS = 30
FUSION_LR = 0.01
KEEP_ALL = 0.5  # fusion training: share of examples with every student present
CHECK_IMAGES = 100  # exported graphs vs PyTorch
TOLERANCE = 1e-4


def conv_bn_relu(cin, cout, kernel, stride=1):
    return [nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU()]


class Student(nn.Module):
    """conv3x3 with stride 2 (width w, 28x28 -> 14x14), conv3x3 at 14x14 (2w), max-pool, conv3x3 at 7x7 (4w),
    conv1x1 to `features` channels at 7x7, every conv followed by BatchNorm and ReLU; global average pool. The
    7x7 map before the pool is what attention transfer matches with the teacher's group of filters, and its
    pooled `features` floats are all the student sends. The strided first conv keeps every activation at 14x14
    or less: on a CPU, 28x28 maps (their BatchNorm, ReLU and pooling) cost more time than their MACs suggest,
    in training here as on a device."""

    def __init__(self, width, features):
        super().__init__()
        self.body = nn.Sequential(*conv_bn_relu(1, width, 3, stride=2), *conv_bn_relu(width, 2 * width, 3),
                                  nn.MaxPool2d(2), *conv_bn_relu(2 * width, 4 * width, 3),
                                  *conv_bn_relu(4 * width, features, 1))
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, image):
        return self.pool(self.body(image))


class Fusion(nn.Module):
    """Concatenates the K students' features and maps them to 10 logits with one linear layer."""

    def __init__(self, students, features):
        super().__init__()
        self.linear = nn.Linear(students * features, 10)

    def forward(self, *features):
        return self.linear(torch.cat(features, 1))


def load_teacher():
    """The teacher as a PyTorch module with model.onnx's weights. The exporter stored each block's
    skip-projection BN bias as an Identity of bn2.bias (the two are equal: they receive the same
    gradient from the same sum), so Identity outputs count as initializers too."""
    path = os.path.join(TEACHER_DIR, "model.onnx")
    graph = onnx.load(path).graph
    tensors = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in tensors:
            tensors[node.output[0]] = tensors[node.input[0]]
    teacher = train_fmnist_teacher.build()
    state = teacher.state_dict()
    missing = [n for n in state if n not in tensors and not n.endswith("num_batches_tracked")]
    unused = [n for n in tensors if n not in state]
    if missing or unused:
        raise ValueError(f"{path}: initializers do not match train_fmnist_teacher.build(): "
                         f"missing {missing}, unused {unused}")
    teacher.load_state_dict({n: torch.from_numpy(tensors[n].copy()) if n in tensors else v for n, v in state.items()})
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher, path


def batched(fn, images, batch=EVAL_BATCH):
    with torch.no_grad():
        return torch.cat([fn(torch.from_numpy(images[i:i + batch])) for i in range(0, len(images), batch)])


def top1(logits, labels):
    return float((logits.argmax(1).numpy() == labels).mean())


def check_teacher(teacher, path, test_x, test_y):
    """The rebuilt teacher must reproduce model.onnx's logits (per the numpy evaluator) and its test accuracy."""
    images = test_x[:8]
    reference = nonn_reference.run(onnx.load(path), {"image": images})[0]["logits"]
    ours = batched(teacher, images).numpy()
    diff = float(np.abs(reference - ours).max())
    accuracy = top1(batched(teacher, test_x), test_y)
    print(f"teacher: logits within {diff:.1e} of model.onnx on 8 test images, test accuracy {accuracy:.4f}", flush=True)
    if diff > TOLERANCE or abs(accuracy - TEACHER_TOP1) > 0.001:
        raise RuntimeError(f"the rebuilt teacher does not match {path}")
    return accuracy, diff


def attention(feature_map):
    """Zagoruyko and Komodakis's spatial attention: the channel mean of squared activations, L2-normalised."""
    return F.normalize(feature_map.pow(2).mean(1).flatten(1))


class Member:
    """One student in training: its network, its distillation head (a linear layer on its features, used only
    while training it) and its teacher filters."""

    def __init__(self, bundle, index, width, features, group):
        self.bundle, self.index, self.group = bundle, index, torch.tensor(group)
        self.student = Student(width, features)
        self.head = nn.Linear(features, 10)

    def parameters(self):
        return list(self.student.parameters()) + list(self.head.parameters())

    def loss(self, image, labels, soft_targets, teacher_map):
        feature_map = self.student.body(image)
        logits = self.head(self.student.pool(feature_map))
        soft = F.kl_div(F.log_softmax(logits / TEMPERATURE, 1), soft_targets, reduction="batchmean")
        distill = SOFT_WEIGHT * TEMPERATURE ** 2 * soft + (1 - SOFT_WEIGHT) * F.cross_entropy(logits, labels)
        transfer = AT_WEIGHT * (attention(feature_map) - attention(teacher_map[:, self.group])).pow(2).mean()
        return distill, transfer

    def logits(self, images):
        return batched(lambda x: self.head(self.student(x)), images)


def train_students(members, teacher, fit_x, fit_y, held_x, held_y, epochs):
    """SGD with Nesterov momentum under a one-cycle schedule, as the teacher was trained, on the teacher's
    augmentation (random shifts of up to 2 pixels and horizontal flips). Returns the 1-minute load averages
    sampled after each epoch."""
    rng = np.random.default_rng(0)
    pad = train_fmnist_teacher.PAD
    padded = np.pad(fit_x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    steps = (len(fit_x) + BATCH - 1) // BATCH
    parameters = [p for m in members for p in m.parameters()]
    optimizer = torch.optim.SGD(parameters, lr=MAX_LR, momentum=0.9, nesterov=True, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=MAX_LR, epochs=epochs, steps_per_epoch=steps)
    loads = []
    for epoch in range(epochs):
        start_time = time.monotonic()
        for m in members:
            m.student.train()
        order = rng.permutation(len(fit_x))
        totals = np.zeros((len(members), 2))
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            image = train_fmnist_teacher.augment(padded, idx, rng)
            labels = torch.from_numpy(fit_y[idx])
            with torch.no_grad():
                teacher_map = torch.cat([teacher[:TEACHER_MAP](c) for c in image.split(TEACHER_CHUNK)])
                soft_targets = F.softmax(teacher[TEACHER_MAP:](teacher_map) / TEMPERATURE, 1)
            optimizer.zero_grad()
            loss = 0.0
            for i, m in enumerate(members):
                distill, transfer = m.loss(image, labels, soft_targets, teacher_map)
                loss = loss + distill + transfer
                totals[i] += (distill.item() * len(idx), transfer.item() * len(idx))
            loss.backward()
            optimizer.step()
            schedule.step()
        loads.append(os.getloadavg()[0])
        for m in members:
            m.student.eval()
        held = " ".join(f"{top1(m.logits(held_x), held_y):.3f}" for m in members)
        losses = " ".join(f"{d:.2f}+{t:.2f}" for d, t in totals / len(order))
        print(f"epoch {epoch + 1}/{epochs}: {time.monotonic() - start_time:.0f} s, load {loads[-1]:.1f}; "
              f"distill+transfer loss {losses}; held-out accuracy per student (own head) {held}", flush=True)
    return loads


def dropout_masks(n, k, generator):
    """Which students' features the fusion sees during its training: all of them for a KEEP_ALL share of
    examples; otherwise m of the K students are missing, m uniform in 1..K-1, which ones uniform."""
    missing = torch.randint(1, k, (n, 1), generator=generator)
    missing[torch.rand(n, generator=generator) < KEEP_ALL] = 0
    rank = torch.rand(n, k, generator=generator).argsort(1)  # a random order of the students per example
    return (rank >= missing).float()


def masked(features, mask):
    """features: list of K [N, F] tensors; mask: [N, K] or [K] of 0/1."""
    mask = mask if mask.dim() == 2 else mask.expand(features[0].shape[0], -1)
    return [f * mask[:, i:i + 1] for i, f in enumerate(features)]


def train_fusion(fusion, features, labels, seed):
    """Adam on cross-entropy over the frozen students' features of the training images (not augmented)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(fusion.parameters(), lr=FUSION_LR)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, FUSION_EPOCHS)
    labels = torch.from_numpy(labels)
    k, n = len(features), len(labels)
    for _ in range(FUSION_EPOCHS):
        order = torch.randperm(n, generator=generator)
        masks = dropout_masks(n, k, generator)
        for start in range(0, n, BATCH):
            idx = order[start:start + BATCH]
            optimizer.zero_grad()
            F.cross_entropy(fusion(*masked([f[idx] for f in features], masks[idx])), labels[idx]).backward()
            optimizer.step()
        schedule.step()
    fusion.eval()


def accuracy_table(fusion, features, labels):
    """Fused test accuracy with every student, each student alone (the others' features zeroed, as the
    runtime does when a student is missing) and each one missing."""
    k = len(features)

    def fused(mask):
        with torch.no_grad():
            return top1(fusion(*masked(features, torch.tensor(mask, dtype=torch.float32))), labels)

    alone = [fused([1.0 if j == i else 0.0 for j in range(k)]) for i in range(k)]
    without = [fused([0.0 if j == i else 1.0 for j in range(k)]) for i in range(k)]
    return fused([1.0] * k), alone, without


def export(module, args, path, input_names, output_name):
    module.eval()
    torch.onnx.export(module, args, path, opset_version=13, input_names=input_names, output_names=[output_name],
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    return model


def check_export(model, feeds, expected, path):
    """The exported graph, run by the numpy evaluator, must reproduce PyTorch's output."""
    got = nonn_reference.run(model, feeds)[0][model.graph.output[0].name]
    diff = float(np.abs(got - expected).max())
    if diff > TOLERANCE:
        raise RuntimeError(f"{path}: differs from PyTorch by {diff:.2e} (tolerance {TOLERANCE})")
    return diff


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())


def main():
    out_root = sys.argv[1] if len(sys.argv) > 1 else "models"
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else EPOCHS  # a shorter run, only to time an epoch
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    loads = [os.getloadavg()[0]]
    train_x, train_y = fmnist.load("train")
    test_x, test_y = fmnist.load("t10k")
    fit_x, fit_y = train_x[:-HELD_OUT], train_y[:-HELD_OUT]
    held_x, held_y = train_x[-HELD_OUT:], train_y[-HELD_OUT:]

    teacher, teacher_path = load_teacher()
    teacher_top1, teacher_diff = check_teacher(teacher, teacher_path, test_x, test_y)
    teacher_macs = nonn_reference.macs_per_image(onnx.load(teacher_path), {"image": test_x[:1]})

    held_activations = batched(teacher[:TEACHER_MAP], held_x).mean((2, 3)).numpy()
    weights = nonn_partition.activation_network(held_activations)
    partitions = {}
    members = []
    for k, width, features in BUNDLES:
        groups, report = nonn_partition.partition(weights, k, seed=0)
        partitions[k] = (groups, report)
        print(f"K={k}: {report['method']} at resolution {report['resolution']} (Louvain found "
              f"{report['louvain_count']}), group sizes {[len(g) for g in groups]}, "
              f"modularity {report['modularity']:.4f}", flush=True)
        members += [Member(k, i, width, features, g) for i, g in enumerate(groups)]
    print(f"{len(members)} students, {epochs} epochs, {THREADS} threads", flush=True)
    loads += train_students(members, teacher, fit_x, fit_y, held_x, held_y, epochs)

    results = []
    for k, width, features in BUNDLES:
        bundle_members = [m for m in members if m.bundle == k]
        for m in bundle_members:
            m.student.eval()
        fit_features = [batched(m.student, fit_x) for m in bundle_members]
        test_features = [batched(m.student, test_x) for m in bundle_members]
        torch.manual_seed(k)
        fusion = Fusion(k, features)
        train_fusion(fusion, fit_features, fit_y, seed=k)
        table = accuracy_table(fusion, test_features, test_y)
        own_heads = [top1(m.logits(test_x), test_y) for m in bundle_members]
        print(f"K={k}: fused {table[0]:.4f}, alone {table[1]}, without {table[2]}, own heads {own_heads}", flush=True)
        results.append((k, width, features, bundle_members, fusion, table, own_heads))
    loads.append(os.getloadavg()[0])
    minutes = (time.monotonic() - BEGIN) / 60

    for k, width, features, bundle_members, fusion, table, own_heads in results:
        groups, report = partitions[k]
        out_dir = os.path.join(out_root, f"fmnist-nonn-{k}")
        write_bundle(out_dir, k, width, features, bundle_members, fusion, table, own_heads, groups, report,
                     test_x, test_y, teacher_top1, teacher_macs, teacher_diff, minutes, epochs, loads)
    print(f"done in {(time.monotonic() - BEGIN) / 60:.1f} min", flush=True)


def write_bundle(out_dir, k, width, features, members, fusion, table, own_heads, groups, report, test_x, test_y,
                 teacher_top1, teacher_macs, teacher_diff, minutes, epochs, loads):
    os.makedirs(out_dir, exist_ok=True)
    images = test_x[:CHECK_IMAGES]
    sample = torch.from_numpy(test_x[:1])
    students = []
    reference_features = []
    for m in members:
        path = os.path.join(out_dir, f"student{m.index}.onnx")
        name = f"features_{m.index}"
        model = export(m.student, sample, path, ["image"], name)
        expected = batched(m.student, images).numpy()
        diff = check_export(model, {"image": images}, expected, path)
        reference_features.append(nonn_reference.run(model, {"image": images})[0][name])
        students.append({"model": os.path.basename(path), "output": name, "filters": m.group.tolist(),
                         "parameters": count_parameters(m.student), "bytes": os.path.getsize(path),
                         "macs": nonn_reference.macs_per_image(model, {"image": test_x[:1]}), "diff": diff})
    names = [f"features_{i}" for i in range(k)]
    fusion_path = os.path.join(out_dir, "fusion.onnx")
    fusion_model = export(fusion, tuple(torch.zeros(1, features) for _ in range(k)), fusion_path, names, "logits")
    with torch.no_grad():
        expected = fusion(*(torch.from_numpy(f.astype(np.float32)) for f in reference_features)).numpy()
    fusion_diff = check_export(fusion_model, dict(zip(names, reference_features)), expected, fusion_path)
    fusion_macs = nonn_reference.macs_per_image(fusion_model, {n: f[:1] for n, f in zip(names, reference_features)})
    print(f"{out_dir}: exports within {max([s['diff'] for s in students] + [fusion_diff]):.1e} of PyTorch "
          f"on {CHECK_IMAGES} test images", flush=True)

    np.save(os.path.join(out_dir, "sample.npy"), test_x[:1])
    with open(os.path.join(out_dir, "sample-label.txt"), "w") as f:
        f.write(f"{test_y[0]} {fmnist.CLASSES[test_y[0]]}\n")
    fused, alone, without = table
    comment = (f"# Trained in {minutes:.1f} min wall time with {THREADS} threads (one command for fmnist-nonn-2 and\n"
               f"# fmnist-nonn-4 together, {epochs} epochs) on a shared 2-core machine: 1-minute load average\n"
               f"# {min(loads):.1f} to {max(loads):.1f} (mean {np.mean(loads):.1f}).\n")
    lines = [f"# Written by {SCRIPT}; do not edit by hand.", comment.rstrip("\n"), "[bundle]",
             f'name = "fmnist-nonn-{k}"', 'kind = "nonn"', 'input = "image: float32[1,1,28,28], pixels / 255"',
             "classes = [" + ", ".join(f'"{c}"' for c in fmnist.CLASSES) + "]", 'teacher = "fmnist-teacher"',
             '# The teacher itself, so that `auto` can weigh a split of it against the students.',
             'model = "../fmnist-teacher/model.onnx"', 'fusion = "fusion.onnx"', 'fusion_output = "logits"', f"fusion_parameters = {count_parameters(fusion)}",
             f"fusion_macs = {fusion_macs}", ""]
    for i, s in enumerate(students):
        lines += ["[[student]]", f'model = "{s["model"]}"', f'output = "{s["output"]}"', f"features = {features}",
                  f"filters = {s['filters']}", f"parameters = {s['parameters']}", f"macs = {s['macs']}",
                  f"top1_alone = {alone[i]:.4f}", f"top1_without = {without[i]:.4f}", ""]
    lines += ["[accuracy]", 'dataset = "Fashion-MNIST t10k (10000 images)"', f"top1 = {fused:.4f}",
              f"teacher_top1 = {teacher_top1:.4f}", ""]
    with open(os.path.join(out_dir, "bundle.toml"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(readme(k, width, features, students, fusion, fusion_macs, table, own_heads, report, teacher_top1,
                       teacher_macs, teacher_diff, minutes, epochs, loads))


def readme(k, width, features, students, fusion, fusion_macs, table, own_heads, report, teacher_top1, teacher_macs,
           teacher_diff, minutes, epochs, loads):
    fused, alone, without = table
    rows = "\n".join(
        f"| student {i} | {len(s['filters'])} | {s['parameters']:,} | {s['macs']:,} | {s['bytes']:,} | {features} "
        f"| {alone[i]:.4f} | {without[i]:.4f} | {own_heads[i]:.4f} |" for i, s in enumerate(students))
    total_parameters = sum(s["parameters"] for s in students) + count_parameters(fusion)
    if report["method"] == "exact":
        how_k = (f"Louvain gave exactly {k} communities at resolution {report['resolution']} (of the scan's "
                 f"resolutions with {k} communities, the one with the highest modularity), so no merging was needed.")
    elif report["method"] == "merged":
        how_k = (f"No resolution gave exactly {k} communities; at resolution {report['resolution']} Louvain gave "
                 f"{report['louvain_count']}, and the smallest community was merged into the one it is most densely "
                 f"connected to (highest mean edge weight) until {k} remained: merges {report['merges']}.")
    else:
        how_k = (f"Every resolution gave fewer than {k} communities; the largest of the {report['louvain_count']} found "
                 f"at resolution {report['resolution']} was bisected with Kernighan-Lin {report['splits']} times.")
    counts = ", ".join(f"{r}: {c}" for r, c in report["counts"].items() if r in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0))
    return f"""# fmnist-nonn-{k}

A Network of Neural Networks (NoNN; Bhardwaj et al., "Memory- and Communication-Aware Model Compression for
Distributed Deep Learning Inference on IoT", CODES+ISSS 2019): the Fashion-MNIST teacher
(`models/fmnist-teacher`, a small ResNet of 77,754 parameters) compressed into {k} independent students. Each
student runs on its own device, reads the whole image and sends {features} floats ({4 * features} bytes) to the
fusion graph, which concatenates the {k} feature vectors and maps them to 10 logits with one linear layer.
Written by `{SCRIPT}`; regenerate, do not edit.

Files: `student0.onnx` ... `student{k - 1}.onnx` (input `image`, float32[1,1,28,28], pixels / 255; output
`features_i`, float32[1,{features}]), `fusion.onnx` (inputs `features_0` ... `features_{k - 1}`, output `logits`,
float32[1,10]), `bundle.toml` (the manifest, with each student's teacher filters and accuracies),
`sample.npy` / `sample-label.txt` (test image 0). ONNX opset 13; ops Conv, BatchNormalization, Relu, MaxPool,
GlobalAveragePool, Flatten in the students, Concat and Gemm in the fusion.

## Accuracy on the Fashion-MNIST test set (10,000 images)

| model | top-1 |
|---|---|
| teacher | {teacher_top1:.4f} |
| all {k} students, fused | {fused:.4f} |
""" + "".join(f"| student {i} alone | {alone[i]:.4f} |\n" for i in range(k)) + \
        "".join(f"| student {i} missing | {without[i]:.4f} |\n" for i in range(k)) + f"""
"Alone" is the fusion graph with only that student's features present and every other student's zeroed;
"missing" zeroes only that student's. Zeroed features are what the runtime feeds the fusion when a student's
device is gone, and the fusion was trained for it (below).

| | teacher filters | parameters | MACs | ONNX bytes | floats sent | alone | missing | own head |
|---|---|---|---|---|---|---|---|---|
| teacher | | 77,754 | {teacher_macs:,} | | | {teacher_top1:.4f} | | |
{rows}
| fusion | | {count_parameters(fusion):,} | {fusion_macs:,} | | | | | |

MACs count Conv and Gemm multiply-accumulates for one image. "Own head" is the student with the linear
classifier it was distilled through (used only in training, not exported): what the student learned by
itself, before fusion. All {k} students and the fusion together have {total_parameters:,} parameters; every
student stays far below the 125,000-parameter (500 KB at 8 bits) budget of one device.

## How it was trained

One command for both NoNN bundles, fixed seeds, two threads, deterministic algorithms:

    nice -n 10 /usr/bin/python3 tools/train/train_fmnist_nonn.py models

{minutes:.1f} min wall time for both bundles ({epochs} student epochs) on a shared 2-core machine, 1-minute load
average {min(loads):.1f} to {max(loads):.1f} (mean {np.mean(loads):.1f}).

1. **Teacher.** `train_fmnist_teacher.build()` with the initializers of `models/fmnist-teacher/model.onnx`
   (names map one to one; the exporter stored each skip projection's BN bias as an Identity of `bn2.bias`,
   which it equals). Its logits are within {teacher_diff:.1e} of a numpy evaluation of the ONNX file on 8 test
   images and its test accuracy is {teacher_top1:.4f}, as in the teacher's bundle.
2. **Partition.** The training set's last 5,000 images are held out: the activation network is built on them
   and nothing is trained on them (students and fusion train on the first 55,000; there is no early stopping,
   the schedule is fixed; the held-out accuracies printed per epoch were only watched). The nodes are the 64
   filters of the teacher's last convolution, taken after the last residual block's add and ReLU (the 64x7x7
   map the teacher pools and classifies), each spatially averaged per image: a_i. The edge weight between
   filters i and j is the sum over the 5,000 images of a_i * a_j, the paper's Hebbian "fire together" weight.
   `networkx` Louvain (seed 0) is run at resolutions {report['resolutions']}; communities found per
   resolution: {counts}. {how_k} Modularity of the final groups: {report['modularity']:.4f}.
   The groups are the `filters` lists in `bundle.toml`.
3. **Students.** conv3x3 stride 2 ({width} ch, 28x28 -> 14x14), conv3x3 ({2 * width} ch, 14x14), max-pool, conv3x3
   ({4 * width} ch, 7x7), conv1x1 ({features} ch, 7x7), each with BatchNorm and ReLU; global average pool to
   the {features} features sent. Each student has a linear head for training only. Loss per student:
   {SOFT_WEIGHT} x T^2 x KL(teacher || student) at temperature T = {TEMPERATURE:g} + {1 - SOFT_WEIGHT:.1f} x
   cross-entropy with the label + {AT_WEIGHT:g} x mean squared difference between the L2-normalised attention
   maps (channel mean of squared activations, 7x7) of the student's last feature map and of the teacher's
   filters in that student's group (NoNN's attention transfer on the partition). Each student trains on its
   own loss alone (no gradient crosses students), by SGD with Nesterov momentum, one-cycle schedule peaking at
   {MAX_LR:g}, weight decay {WEIGHT_DECAY:g}, batch {BATCH}, {epochs} epochs, the teacher's augmentation (random
   shifts up to 2 pixels, horizontal flips). The six students of both bundles share one loop and so one
   teacher forward pass per batch.
4. **Fusion.** Students frozen; the linear fusion layer trains on their features of the 55,000 training
   images by Adam (lr {FUSION_LR:g}, cosine, {FUSION_EPOCHS} epochs) on cross-entropy, with student dropout:
   each example has all students present with probability {KEEP_ALL:g}, otherwise m of them zeroed (m uniform
   in 1..{k - 1}, which ones uniform), so the fusion knows what a missing student looks like.
5. **Checks.** Every ONNX file passes `onnx.checker.check_model(full_check=True)`; each file, evaluated by
   `tools/train/nonn_reference.py` (numpy, float64; the installed onnx 1.12 has no `onnx.reference`),
   reproduces PyTorch's output within {TOLERANCE:g} on the first {CHECK_IMAGES} test images (students on the
   images, the fusion on the students' evaluated features). The accuracy table is measured with PyTorch on the
   full test set; `tools/train/nonn_verify.py models/fmnist-nonn-{k}` recomputes it from the ONNX files.
"""


if __name__ == "__main__":
    main()

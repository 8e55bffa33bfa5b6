"""Fashion-MNIST from Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist),
as float32 tensors in [0, 1] shaped N x 1 x 28 x 28, and int64 labels. Shared by the training
scripts; nothing here downloads anything."""
import gzip
import os

import numpy as np

DATASET_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _read_idx(path, header_bytes):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header_bytes)


def load(split):
    """split: 'train' (60000) or 't10k' (10000). Returns (images float32 N,1,28,28 in [0,1], labels int64)."""
    images = _read_idx(os.path.join(DATASET_DIR, f"{split}-images-idx3-ubyte.gz"), 16)
    labels = _read_idx(os.path.join(DATASET_DIR, f"{split}-labels-idx1-ubyte.gz"), 8)
    images = images.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    assert images.shape[0] == labels.shape[0]
    return images, labels.astype(np.int64)


def load_test_images(build_dir, count, who):
    """The first `count` t10k images and labels: the copy the build exported for the tests
    (BUILD/data/fmnist-t10k-*.npy) when there is one, else the dataset. `who` names the caller
    in the error when the test set is too small."""
    images_path = os.path.join(build_dir, "data", "fmnist-t10k-images.npy")
    labels_path = os.path.join(build_dir, "data", "fmnist-t10k-labels.npy")
    if os.path.exists(images_path) and os.path.exists(labels_path):
        images, labels = np.load(images_path, mmap_mode="r"), np.load(labels_path)
    else:
        images, labels = load("t10k")
    if count > len(images):
        raise SystemExit(f"{who}: {count} images asked for, the test set has {len(images)}")
    return np.ascontiguousarray(images[:count], dtype=np.float32), np.asarray(labels[:count], dtype=np.int64)

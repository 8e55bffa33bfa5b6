#!/usr/bin/python3
"""Writes Fashion-MNIST's test set (from Debian's dataset-fashion-mnist) as .npy for C++ tests:
OUT_DIR/fmnist-t10k-images.npy (float32 10000x1x28x28, pixels / 255) and
OUT_DIR/fmnist-t10k-labels.npy (int64). Exit 77 (CTest: skipped) when the data is missing."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
try:
    import numpy as np
    import fmnist
except ImportError as missing:
    print(f"skipped: {missing}")
    sys.exit(77)

out_dir = sys.argv[1]
if not os.path.exists(os.path.join(fmnist.DATASET_DIR, "t10k-images-idx3-ubyte.gz")):
    print(f"skipped: {fmnist.DATASET_DIR} missing (install dataset-fashion-mnist)")
    sys.exit(77)
os.makedirs(out_dir, exist_ok=True)
images, labels = fmnist.load("t10k")
np.save(os.path.join(out_dir, "fmnist-t10k-images.npy"), images)
np.save(os.path.join(out_dir, "fmnist-t10k-labels.npy"), labels)

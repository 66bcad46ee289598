#!/usr/bin/env python3
"""Makes the extra datasets of docs/RESULTS.md as folders `mtkd --data` reads (NPY, with a dataset.json).

  make_datasets.py digits OUT            scikit-learn's 8x8 handwritten digits (Debian: python3-sklearn):
                                         1,797 images, a stratified 80/20 split (seed 0), grey levels 0..16
                                         scaled to 0..255; digits are not mirror-invariant
  make_datasets.py subset SRC OUT --train N [--seed S]
                                         a low-label regime: N training rows of the IDX dataset in SRC
                                         (stratified, seeded), its whole test split; the dataset.json of SRC's
                                         kind (Fashion-MNIST: mirror-invariant) is carried over

Deterministic: the same arguments give the same bytes. Needs numpy (and scikit-learn for `digits`).
"""
import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np


def write_split(out, split, images, labels):
    os.makedirs(os.path.join(out, split), exist_ok=True)
    np.save(os.path.join(out, split, "images.npy"), images.astype(np.uint8))
    np.save(os.path.join(out, split, "labels.npy"), labels.astype(np.int64))


def write_descriptor(out, name, mirror_invariant, **extra):
    with open(os.path.join(out, "dataset.json"), "w") as f:
        json.dump({"name": name, "mirror_invariant": mirror_invariant, **extra}, f, indent=2)
        f.write("\n")


def stratified(labels, per_class_fraction=None, count=None, seed=0):
    """Indices of a seeded stratified sample: a fraction of each class, or `count` rows in all."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    chosen = []
    for i, c in enumerate(classes):
        rows = np.flatnonzero(labels == c)
        rng.shuffle(rows)
        if per_class_fraction is not None:
            k = int(round(len(rows) * per_class_fraction))
        else:
            k = count // len(classes) + (1 if i < count % len(classes) else 0)
        chosen.append(rows[:k])
    return np.sort(np.concatenate(chosen))


def digits(out):
    from sklearn.datasets import load_digits
    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).clip(0, 255)
    labels = d.target
    train = stratified(labels, per_class_fraction=0.8, seed=0)
    test = np.setdiff1d(np.arange(len(labels)), train)
    write_split(out, "train", images[train], labels[train])
    write_split(out, "test", images[test], labels[test])
    write_descriptor(out, "sklearn-digits-8x8", False, source="sklearn.datasets.load_digits", split="stratified 80/20, seed 0")
    print(f"{out}: {len(train)} train + {len(test)} test images of 8x8")


def read_idx(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    dims = raw[3]
    shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(src, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if os.path.exists(os.path.join(src, name)):
            return os.path.join(src, name)
    sys.exit(f"{src}: no {stem}[.gz]")


def subset(src, out, train_rows, seed):
    x = read_idx(find(src, "train-images-idx3-ubyte"))
    y = read_idx(find(src, "train-labels-idx1-ubyte"))
    xt = read_idx(find(src, "t10k-images-idx3-ubyte"))
    yt = read_idx(find(src, "t10k-labels-idx1-ubyte"))
    if not 0 < train_rows <= len(y):
        sys.exit(f"--train {train_rows}: must lie in 1..{len(y)}")
    rows = stratified(y, count=train_rows, seed=seed)
    write_split(out, "train", x[rows], y[rows])
    write_split(out, "test", xt, yt)
    fashion = "fashion" in os.path.abspath(src).lower()
    write_descriptor(out, f"{os.path.basename(os.path.normpath(src))}-{train_rows}", fashion,
                     source=os.path.abspath(src), train_rows=train_rows, seed=seed)
    if fashion:
        names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        with open(os.path.join(out, "classes.txt"), "w") as f:
            f.write("\n".join(names) + "\n")
    print(f"{out}: {len(rows)} train + {len(yt)} test images")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    d = sub.add_parser("digits")
    d.add_argument("out")
    s = sub.add_parser("subset")
    s.add_argument("src")
    s.add_argument("out")
    s.add_argument("--train", type=int, required=True)
    s.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.what == "digits":
        digits(a.out)
    else:
        subset(a.src, a.out, a.train, a.seed)


if __name__ == "__main__":
    main()

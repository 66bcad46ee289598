#!/usr/bin/env python3
"""Makes the Fashion-MNIST slice committed in data/fashion-mnist-slice from the full dataset.

Picks, per class, a seeded random sample of the training images (1000 of each class by default) and of the test
images (200 of each), keeps them in their original order, and writes them as gzip IDX files named like the
originals. Standard library only. The random choice uses its own SplitMix64 generator, so the selection does not
depend on the Python version; gzip is written with mtime 0 and no file name, so the output depends only on the
input and on zlib.
"""

import argparse
import gzip
import hashlib
import os
import struct
import sys
import tempfile

MASK64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        """Uniform in [0, n) by rejection, so no value is favoured."""
        limit = (1 << 64) - ((1 << 64) % n)
        while True:
            x = self.next()
            if x < limit:
                return x % n


def read_idx(path, rank):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    zero, dtype, got_rank = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08 or got_rank != rank:
        sys.exit(f"{path}: not an unsigned-byte IDX file of rank {rank}")
    dims = struct.unpack(f">{rank}I", data[4:4 + 4 * rank])
    payload = data[4 + 4 * rank:]
    size = 1
    for d in dims:
        size *= d
    if len(payload) != size:
        sys.exit(f"{path}: header says {dims}, payload holds {len(payload)} bytes")
    return dims, payload


def write_idx_gz(path, dims, payload):
    header = struct.pack(">HBB", 0, 0x08, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".slice-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as z:
                z.write(header)
                z.write(payload)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


def stratified_sample(labels, per_class, rng):
    chosen = []
    for cls in range(10):
        rows = [i for i, label in enumerate(labels) if label == cls]
        if len(rows) < per_class:
            sys.exit(f"class {cls} has {len(rows)} images, fewer than {per_class}")
        for i in range(len(rows) - 1, 0, -1):  # Fisher-Yates
            j = rng.below(i + 1)
            rows[i], rows[j] = rows[j], rows[i]
        chosen.extend(rows[:per_class])
    return sorted(chosen)


def make_split(source, out, prefix, per_class, rng):
    image_dims, images = read_idx(os.path.join(source, f"{prefix}-images-idx3-ubyte.gz"), 3)
    label_dims, labels = read_idx(os.path.join(source, f"{prefix}-labels-idx1-ubyte.gz"), 1)
    if image_dims[0] != label_dims[0]:
        sys.exit(f"{prefix}: {image_dims[0]} images but {label_dims[0]} labels")
    rows = stratified_sample(labels, per_class, rng)
    size = image_dims[1] * image_dims[2]
    picked_images = b"".join(images[r * size:(r + 1) * size] for r in rows)
    picked_labels = bytes(labels[r] for r in rows)
    written = []
    for kind, dims, payload in (("images-idx3", (len(rows), image_dims[1], image_dims[2]), picked_images),
                                ("labels-idx1", (len(rows),), picked_labels)):
        path = os.path.join(out, f"{prefix}-{kind}-ubyte.gz")
        write_idx_gz(path, dims, payload)
        written.append(path)
    return written


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist", help="folder with the full Fashion-MNIST gzip IDX files")
    parser.add_argument("--out", default=os.path.join(here, "fashion-mnist-slice"), help="output folder")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--train-per-class", type=int, default=1000)
    parser.add_argument("--test-per-class", type=int, default=200)
    args = parser.parse_args()

    os.makedirs(args.out, exist_ok=True)
    rng = SplitMix64(args.seed)
    files = make_split(args.source, args.out, "train", args.train_per_class, rng)
    files += make_split(args.source, args.out, "t10k", args.test_per_class, rng)
    for path in files:
        with open(path, "rb") as f:
            print(f"{hashlib.sha256(f.read()).hexdigest()}  {os.path.basename(path)}")


if __name__ == "__main__":
    main()

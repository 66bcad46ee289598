#!/usr/bin/env python3
"""Segmentation decisions object by object, on a scenes folder's test split.

    python3 docs/results/scene_objects.py SCENES PREDICTIONS.npy

PREDICTIONS.npy is what `mtkd eval --model M --data SCENES --masks PREDICTIONS.npy` writes (uint8 [N, H, W]).
An object's visible pixels are taken as the pixels inside its box (instances_test.json) whose label is its class:
exact unless another object of the same class overlaps the box. For each object: the share of its visible pixels
given its class, and whether the most frequent object class among them is its class (its majority decision).
Printed over all objects, per class, and by the number of visible pixels. Needs numpy.
"""
import argparse
import json
import os

import numpy as np


def objects(scenes, predictions):
    masks = np.load(os.path.join(scenes, "test", "masks.npy"))
    if predictions.shape != masks.shape:
        raise SystemExit(f"predictions are {predictions.shape}, the test masks {masks.shape}")
    with open(os.path.join(scenes, "instances_test.json")) as f:
        instances = json.load(f)
    names = {c["id"]: c["name"] for c in instances["categories"]}
    rows = []
    for a in instances["annotations"]:
        x, y, w, h = (int(v) for v in a["bbox"])
        image, cls = a["image_id"] - 1, a["category_id"]
        visible = masks[image, y:y + h, x:x + w] == cls
        decided = predictions[image, y:y + h, x:x + w][visible]
        if decided.size == 0:
            continue
        counts = np.bincount(decided, minlength=len(names) + 1)
        counts[0] = 0  # the majority among object classes
        rows.append((cls, decided.size, float((decided == cls).mean()), counts.sum() > 0 and counts.argmax() == cls))
    return names, np.array(rows, dtype=float)


def line(label, r):
    return (f"{label:24s} objects {len(r):5d}   pixels right {np.average(r[:, 2], weights=r[:, 1]):.3f}"
            f"   majority right {r[:, 3].mean():.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenes")
    parser.add_argument("predictions")
    args = parser.parse_args()
    names, r = objects(args.scenes, np.load(args.predictions))
    print(line("all objects", r))
    for cls, name in names.items():
        if (r[:, 0] == cls).any():
            print(line(f"  {name}", r[r[:, 0] == cls]))
    for lo, hi in [(0, 150), (150, 300), (300, 500), (500, None)]:
        s = r[(r[:, 1] >= lo) & (r[:, 1] < (hi or np.inf))]
        if len(s):
            print(line(f"  {lo}-{hi or ''} visible pixels", s))


if __name__ == "__main__":
    main()

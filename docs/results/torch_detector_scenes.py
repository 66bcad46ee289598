#!/usr/bin/env python3
"""A detection teacher trained in PyTorch on a scenes folder, exported to ONNX for `mtkd teachers import --onnx`.

    python3 docs/results/torch_detector_scenes.py SCENES WIDTH EPOCHS OUT.onnx [--context] [--bf16]     # THREADS=2 by default
    mtkd teachers import --pool POOL --data SCENES --name NAME --onnx OUT.onnx --scale 0-1 --boxes box

The location assignment, losses, box coding and decoding are docs/DETECTION.md's, as
tests/fixtures/onnx/train_torch_detector.py writes them (imported from there). The network: a 3 x 3 convolution at
the canvas (WIDTH channels), then stages of two 3 x 3 convolutions with BatchNorm and ReLU (torch_unet_scenes.py's
`stage`) at 1/2, 1/4 and 1/8 of it (2, 4 and 8 times WIDTH), the 1/8 stage upsampled and joined to the 1/4 one (one
more stage of 4 WIDTH), and 3 x 3 heads for the class logits and the four box outputs at stride 4. With --context a
1/16 stage of 8 WIDTH is joined back to the 1/8 one first (one more stage of 8 WIDTH), and the class head gets a 3 x 3
convolution with BatchNorm and ReLU of its own before its output convolution (docs/RESULTS.md, "Context for the
detector"). Adam with the
one-cycle schedule (peak 3e-3, 10 % warm-up), batch 32, random left-right flips (boxes mirrored), seed 1. After each
epoch it writes the test detections as a COCO results file (OUT.epochN.json; score them with `mtkd eval --data SCENES --score-detections`),
the model so far to OUT.onnx and its PyTorch weights to OUT.pt. Input: pixel / 255, [N,1,S,S]; outputs "cls" [N,C+1,S/4,S/4] and "box"
[N,4,S/4,S/4]. --bf16 trains under bfloat16 autocast (torch_unet_scenes.py's take_bf16). Needs numpy and torch.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "onnx"))
from train_torch_detector import STRIDE, coco_detections, load, targets  # noqa: E402
from torch_unet_scenes import block, forward_for_training, stage, take_bf16  # noqa: E402  (this folder: one and two 3 x 3 convolutions with BatchNorm and ReLU)


class Detector(nn.Module):
    """context=False: the 1/8 stage joined back to the 1/4 one, one 3 x 3 convolution a head.
    context=True: a 1/16 stage joined back to the 1/8 one first (one more stage of 8 WIDTH), and a 3 x 3 convolution
    with BatchNorm and ReLU before the class head's own."""

    def __init__(self, width, classes, context=False):
        super().__init__()
        w = width
        self.context = context
        self.stem = block(1, w)
        self.s2, self.s4, self.s8 = stage(w, 2 * w), stage(2 * w, 4 * w), stage(4 * w, 8 * w)
        if context:
            self.s16, self.top = stage(8 * w, 8 * w), stage(16 * w, 8 * w)
        self.merge = stage(8 * w + 4 * w, 4 * w)
        if context:
            self.cls = nn.Sequential(*block(4 * w, 4 * w), nn.Conv2d(4 * w, classes, 3, padding=1))
        else:
            self.cls = nn.Conv2d(4 * w, classes, 3, padding=1)
        self.box = nn.Conv2d(4 * w, 4, 3, padding=1)

    def features(self, x):
        """The stem's output (the canvas), the 1/2 stage's, and the features at stride 4 that the heads read."""
        s1 = self.stem(x)
        s2 = self.s2(F.max_pool2d(s1, 2))
        s4 = self.s4(F.max_pool2d(s2, 2))
        s8 = self.s8(F.max_pool2d(s4, 2))
        if self.context:
            s16 = self.s16(F.max_pool2d(s8, 2))
            s8 = self.top(torch.cat([F.interpolate(s16, scale_factor=2.0, mode="nearest"), s8], 1))
        return s1, s2, self.merge(torch.cat([F.interpolate(s8, scale_factor=2.0, mode="nearest"), s4], 1))

    def forward(self, x):
        f = self.features(x)[2]
        return self.cls(f), self.box(f)


def mirrored(boxes, canvas):
    return [(c, canvas - x - w, y, w, h) for c, x, y, w, h in boxes]


def main():
    arguments, bf16 = take_bf16(sys.argv[1:])
    context = "--context" in arguments
    arguments = [a for a in arguments if a != "--context"]
    scenes, width, epochs, out = arguments[0], int(arguments[1]), int(arguments[2]), arguments[3]
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    torch.manual_seed(1)
    with open(os.path.join(scenes, "dataset.json")) as f:
        descriptor = json.load(f)
    classes, canvas = len(descriptor["classes"]) + 1, descriptor["canvas"]
    grid = canvas // STRIDE
    x_train, train_boxes = load(scenes, "train", canvas)
    x_test, _ = load(scenes, "test", canvas)
    started = time.time()
    plain = [targets(b, grid) for b in train_boxes]
    flipped = [targets(mirrored(b, canvas), grid) for b in train_boxes]
    labels = torch.from_numpy(np.stack([np.stack([p[0] for p in plain]), np.stack([p[0] for p in flipped])]))      # [2, N, L]
    box_targets = torch.from_numpy(np.stack([np.stack([p[1] for p in plain]), np.stack([p[1] for p in flipped])]))  # [2, N, L, 4]
    print(f"targets for {len(x_train)} canvases in {time.time() - started:.0f} s", flush=True)
    model = Detector(width, classes, context)
    batch = 32
    steps = epochs * ((len(x_train) + batch - 1) // batch)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    for epoch in range(1, epochs + 1):
        model.train()
        started = time.time()
        order = torch.randperm(len(x_train))
        total = 0.0
        for i in range(0, len(order), batch):
            rows = order[i:i + batch]
            flip = torch.rand(len(rows)) < 0.5
            x = torch.where(flip[:, None, None, None], x_train[rows].flip(3), x_train[rows])
            y = labels[flip.long(), rows].reshape(-1)
            target = box_targets[flip.long(), rows].reshape(-1, 4)
            z, t = forward_for_training(model, x, bf16)
            z = z.permute(0, 2, 3, 1).reshape(-1, classes)
            t = t.permute(0, 2, 3, 1).reshape(-1, 4)
            positive = y > 0
            box = F.smooth_l1_loss(t[positive], target[positive], beta=0.1, reduction="sum") / max(int(positive.sum()), 1)
            loss = F.cross_entropy(z, y) + box
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss) * len(rows)
        model.to(memory_format=torch.contiguous_format)
        detections = coco_detections(model, x_test, grid, canvas, batch=100)
        with open(f"{out}.epoch{epoch}.json", "w") as f:
            json.dump(detections, f, separators=(",", ":"))
        torch.onnx.export(model, x_test[:1], out, input_names=["image"], output_names=["cls", "box"],
                          dynamic_axes={"image": {0: "batch"}, "cls": {0: "batch"}, "box": {0: "batch"}}, opset_version=13)
        torch.save(model.state_dict(), os.path.splitext(out)[0] + ".pt")
        print(f"epoch {epoch}: loss {total / len(x_train):.4f}, {len(detections)} test detections, {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()

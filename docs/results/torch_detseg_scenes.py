#!/usr/bin/env python3
"""A segmentation teacher on the trunk of the PyTorch context detector, exported to ONNX for `mtkd teachers import`.

    python3 docs/results/torch_detseg_scenes.py SCENES WIDTH EPOCHS OUT.onnx [--trunk DETECTOR.pt] [--bf16]   # THREADS=2 by default
    mtkd teachers import --pool POOL --data SCENES --name NAME --onnx OUT.onnx --scale 0-1

The trunk is torch_detector_scenes.py's context detector (stem, stages at 1/2, 1/4, 1/8 and 1/16 of the canvas, the
1/16 stage joined back to the 1/8 one and that to the 1/4 one) without its heads. With --trunk it starts from the
weights that script saved (OUT.pt of a `--context` run of the same WIDTH), as segmentation toolkits start from a
network trained on another task; without it, from a random start. The decoder goes back to the canvas as a U-Net
does: the 1/4 features upsampled (bilinear) and joined to the 1/2 stage, one 3 x 3 convolution to WIDTH channels and
one more, upsampled again and joined to the stem, one 3 x 3 convolution, then a 1 x 1 head to the scenes' classes and
background. Every convolution but the head has BatchNorm and ReLU. Per-pixel cross-entropy with label 255 ignored;
Adam with the one-cycle schedule (peak 1e-3 with a trunk, 3e-3 without; 10 % warm-up), batch 32, random left-right
flips, seed 1. After each epoch it prints the test mIoU (torch_unet_scenes.py's, plain and with the flip test) and
writes OUT.onnx (input pixel / 255 [N,1,S,S], output "maps" [N,C+1,S,S]) and OUT.pt. The canvas side must be a multiple of
16 (the trunk pools four times). --bf16 trains under bfloat16 autocast (torch_unet_scenes.py's take_bf16). Needs numpy
and torch.
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_detector_scenes import Detector  # noqa: E402
from torch_unet_scenes import block, evaluate, export_maps, prepare, take_bf16, train_epoch  # noqa: E402


class Segmenter(nn.Module):
    def __init__(self, width, classes):
        super().__init__()
        w = width
        self.trunk = Detector(w, classes, context=True)
        del self.trunk.cls, self.trunk.box
        self.at_half = nn.Sequential(block(4 * w + 2 * w, w), block(w, w))
        self.at_full = block(w + w, w)
        self.head = nn.Conv2d(w, classes, 1)

    def forward(self, x):
        def up(z):
            return F.interpolate(z, scale_factor=2.0, mode="bilinear", align_corners=False)
        s1, s2, f = self.trunk.features(x)
        h = self.at_half(torch.cat([up(f), s2], 1))
        return self.head(self.at_full(torch.cat([up(h), s1], 1)))


def main():
    arguments, bf16 = take_bf16(sys.argv[1:])
    trunk = None
    if "--trunk" in arguments:
        at = arguments.index("--trunk")
        trunk = arguments[at + 1]
        del arguments[at:at + 2]
    scenes, width, epochs, out = arguments[0], int(arguments[1]), int(arguments[2]), arguments[3]
    classes, (x_train, y_train), (x_test, y_test) = prepare(scenes)
    if x_train.shape[-1] % 16:
        sys.exit(f"{scenes}: canvas {x_train.shape[-1]} is not a multiple of 16, which the trunk's four poolings need")
    model = Segmenter(width, classes)
    if trunk is not None:
        state = {k: v for k, v in torch.load(trunk).items() if not k.startswith(("cls.", "box."))}
        model.trunk.load_state_dict(state)
    peak = 1e-3 if trunk is not None else 3e-3
    batch = 32
    optimizer = torch.optim.Adam(model.parameters(), lr=peak)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak, total_steps=epochs * math.ceil(len(x_train) / batch), pct_start=0.1)

    for epoch in range(epochs):
        start = time.time()
        train_epoch(model, optimizer, schedule, x_train, y_train, batch, bf16)
        (plain, per_class), (flipped, per_class_flip) = evaluate(model, x_test, y_test, classes)
        print(json.dumps({"epoch": epoch + 1, "seconds": round(time.time() - start, 1), "test_miou": plain, "test_miou_flip": flipped,
                          "per_class": [round(v, 4) for v in per_class]}), flush=True)
        export_maps(model, x_test[:1], out)
        torch.save(model.state_dict(), os.path.splitext(out)[0] + ".pt")


if __name__ == "__main__":
    main()

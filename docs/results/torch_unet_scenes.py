#!/usr/bin/env python3
"""A segmentation teacher trained in PyTorch on a scenes folder, exported to ONNX for `mtkd teachers import --onnx`.

    python3 docs/results/torch_unet_scenes.py SCENES WIDTH EPOCHS OUT.onnx [--bf16]     # THREADS=2 by default
    mtkd teachers import --pool POOL --data SCENES --name NAME --onnx OUT.onnx --scale 0-1

A four-level U-Net with two 3 x 3 convolutions, BatchNorm and ReLU per stage (WIDTH, 2, 4 and 8 times WIDTH
channels), bilinear upsampling and skip concatenation, a 1 x 1 head to the scenes' classes and background; Adam
with the one-cycle schedule (peak 3e-3, 10 % warm-up), batch 32, random left-right flips, seed 1. After each epoch
it prints the test mIoU as segmentation toolkits compute it (one confusion matrix over the split, label 255 ignored,
classes absent from both prediction and label left out), plain and with the flip test. Input: pixel / 255, [N,1,S,S];
output: the logit maps "maps" [N,C+1,S,S] alone. --bf16 trains under bfloat16 autocast (take_bf16). Needs numpy and
torch.
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def block(inputs, outputs):
    """A 3 x 3 convolution (no bias), BatchNorm and ReLU."""
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(inplace=True))


def stage(inputs, outputs):
    """Two blocks, as one flat Sequential (parameter names 0.weight ... 5.running_var)."""
    return nn.Sequential(*block(inputs, outputs), *block(outputs, outputs))


class UNet(nn.Module):
    def __init__(self, width, classes):
        super().__init__()
        w = width
        self.e1, self.e2, self.e3, self.e4 = stage(1, w), stage(w, 2 * w), stage(2 * w, 4 * w), stage(4 * w, 8 * w)
        self.d3, self.d2, self.d1 = stage(8 * w + 4 * w, 4 * w), stage(4 * w + 2 * w, 2 * w), stage(2 * w + w, w)
        self.head = nn.Conv2d(w, classes, 1)

    def forward(self, x):
        def up(t):
            return F.interpolate(t, scale_factor=2.0, mode="bilinear", align_corners=False)
        e1 = self.e1(x)
        e2 = self.e2(F.max_pool2d(e1, 2))
        e3 = self.e3(F.max_pool2d(e2, 2))
        e4 = self.e4(F.max_pool2d(e3, 2))
        d3 = self.d3(torch.cat([up(e4), e3], 1))
        d2 = self.d2(torch.cat([up(d3), e2], 1))
        return self.head(self.d1(torch.cat([up(d2), e1], 1)))


def load(scenes, split):
    images = np.load(os.path.join(scenes, split, "images.npy"))
    masks = np.load(os.path.join(scenes, split, "masks.npy"))
    side = images.shape[-1]
    return torch.from_numpy(images.astype(np.float32) / 255).reshape(len(images), 1, side, side), torch.from_numpy(masks.astype(np.int64))


def mean_iou(predicted, labels, classes):
    valid = labels != 255
    matrix = np.bincount(labels[valid] * classes + predicted[valid], minlength=classes * classes).reshape(classes, classes)
    intersection = np.diag(matrix).astype(np.float64)
    union = matrix.sum(0) + matrix.sum(1) - np.diag(matrix)
    present = union > 0
    return float((intersection[present] / union[present]).mean()), [float(v) for v in intersection / np.maximum(union, 1)]


def prepare(scenes):
    """Seed 1, THREADS threads (2 by default); the scenes' class count with background, and both splits."""
    torch.manual_seed(1)
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    with open(os.path.join(scenes, "dataset.json")) as f:
        classes = len(json.load(f)["classes"]) + 1
    return classes, load(scenes, "train"), load(scenes, "test")


def take_bf16(arguments):
    """--bf16 (removed from the list): train under CPU autocast to bfloat16 with channels-last tensors, about twice
    as fast on CPUs with AVX512-BF16 (docs/RESULTS.md); losses, optimiser state, evaluation and export stay float32."""
    return [a for a in arguments if a != "--bf16"], "--bf16" in arguments


def forward_for_training(model, x, bf16):
    """The model's outputs in float32, computed under bfloat16 autocast (channels-last) when bf16 is set."""
    if not bf16:
        return model(x)
    model.to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x.contiguous(memory_format=torch.channels_last))
    return tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()


def train_epoch(model, optimizer, schedule, x_train, y_train, batch, bf16=False):
    """One epoch of per-pixel cross-entropy (label 255 ignored) in a random order, each canvas mirrored with
    probability 1/2."""
    model.train()
    order = torch.randperm(len(x_train))
    for i in range(0, len(order), batch):
        rows = order[i:i + batch]
        x, y = x_train[rows], y_train[rows]
        flip = torch.rand(len(rows)) < 0.5
        x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
        loss = F.cross_entropy(forward_for_training(model, x, bf16), y, ignore_index=255)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()


def evaluate(model, x_test, y_test, classes):
    """(mIoU, per-class IoU) of the plain logits and of the flip test (plain plus mirrored logits)."""
    model.eval()
    with torch.no_grad():
        plain = torch.cat([model(x_test[i:i + 100]) for i in range(0, len(x_test), 100)])
        flipped = plain + torch.cat([model(x_test[i:i + 100].flip(-1)).flip(-1) for i in range(0, len(x_test), 100)])
    labels = y_test.numpy().ravel()
    return mean_iou(plain.argmax(1).numpy().ravel(), labels, classes), mean_iou(flipped.argmax(1).numpy().ravel(), labels, classes)


def export_maps(model, example, out):
    """The model in eval mode to ONNX: input "image" [N,1,S,S], output "maps" [N,C+1,S,S], the batch dynamic."""
    model.eval()
    model.to(memory_format=torch.contiguous_format)
    torch.onnx.export(model, example, out, input_names=["image"], output_names=["maps"],
                      dynamic_axes={"image": {0: "batch"}, "maps": {0: "batch"}}, opset_version=13)


def main():
    arguments, bf16 = take_bf16(sys.argv[1:])
    scenes, width, epochs, out = arguments[0], int(arguments[1]), int(arguments[2]), arguments[3]
    classes, (x_train, y_train), (x_test, y_test) = prepare(scenes)
    model = UNet(width, classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = 32
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=epochs * math.ceil(len(x_train) / batch), pct_start=0.1)

    for epoch in range(epochs):
        start = time.time()
        train_epoch(model, optimizer, schedule, x_train, y_train, batch, bf16)
        (plain, per_class), (flipped, per_class_flip) = evaluate(model, x_test, y_test, classes)
        print(json.dumps({"epoch": epoch + 1, "seconds": round(time.time() - start, 1), "test_miou": plain, "test_miou_flip": flipped}), flush=True)
    print(json.dumps({"per_class": per_class, "per_class_flip": per_class_flip}))
    export_maps(model, x_test[:1], out)


if __name__ == "__main__":
    main()

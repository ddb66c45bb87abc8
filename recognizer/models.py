"""The video classifiers an action checkpoint can hold (torchvision's, plus a tiny R(2+1)D for tests)."""

from __future__ import annotations

import torchvision.models.video as tv_video
from torch import nn
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, R2Plus1dStem, VideoResNet


def r2plus1d_tiny(num_classes: int = 10) -> VideoResNet:
    """R(2+1)D with one block per stage (torchvision's blocks): for tests and quick experiments.

    Same layer names as ``r2plus1d_18`` (stem, layer1..4, fc), about a third of its weights;
    it has no pretrained weights (``--init kinetics`` is refused for it).
    """
    return VideoResNet(
        block=BasicBlock,
        conv_makers=[Conv2Plus1D] * 4,
        layers=[1, 1, 1, 1],
        stem=R2Plus1dStem,
        num_classes=num_classes,
    )


ARCHS = ("r2plus1d_18", "r3d_18", "mc3_18", "s3d", "mvit_v2_s", "r2plus1d_tiny")


def build_model(arch: str, num_classes: int) -> nn.Module:
    """An untrained video classifier of ``arch`` with a ``num_classes`` head.

    Raises:
        ValueError: an architecture not in :data:`ARCHS`.
    """
    if arch == "r2plus1d_tiny":
        return r2plus1d_tiny(num_classes)
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    return getattr(tv_video, arch)(weights=None, num_classes=num_classes)

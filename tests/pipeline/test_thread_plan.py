"""The thread rule: how many native threads the detector's runtime, torch and OpenCV get from the core count."""

from __future__ import annotations

import cv2
import pytest
import torch

from pipeline.threads import ThreadPlan, usable_cores


@pytest.mark.parametrize("cores, detector, opencv", [(1, 1, 1), (2, 1, 1), (4, 2, 1), (8, 4, 2), (16, 8, 4)])
def test_the_rule_leaves_half_the_cores_to_the_other_threads(cores, detector, opencv):
    plan = ThreadPlan.for_cores(cores)
    assert (plan.cores, plan.detector, plan.torch, plan.opencv) == (cores, detector, detector, opencv)
    assert plan.detector + plan.opencv <= max(cores, 2)  # never more than the cores (one each on one core)


def test_with_the_detector_on_a_gpu_torch_and_opencv_keep_every_core():
    plan = ThreadPlan.for_cores(16, detector_on_cpu=False)
    assert plan.torch == 16 and plan.opencv == 16


def test_default_cores_are_this_process_affinity():
    assert ThreadPlan.for_cores().cores == usable_cores() >= 1


def test_apply_sets_torch_and_opencv():
    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        ThreadPlan(cores=3, detector=1, torch=1, opencv=1).apply()
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (1, 1)
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])

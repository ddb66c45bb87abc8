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


def test_the_plan_holds_for_the_block_and_is_put_back_after():
    before = torch.get_num_threads(), cv2.getNumThreads()
    other = (before[0] % 3 + 1, before[1] % 3 + 1)  # differs from what was there
    with ThreadPlan(cores=3, detector=1, torch=other[0], opencv=other[1]).applied():
        assert (torch.get_num_threads(), cv2.getNumThreads()) == other
    assert (torch.get_num_threads(), cv2.getNumThreads()) == before
    with pytest.raises(RuntimeError):  # also when the block fails
        with ThreadPlan(cores=3, detector=1, torch=other[0], opencv=other[1]).applied():
            raise RuntimeError
    assert (torch.get_num_threads(), cv2.getNumThreads()) == before


def test_building_and_running_a_pipeline_leaves_the_callers_pools_alone(tmp_path):
    from pipeline.config import PipelineConfig
    from tests.synth import make_video, player, standing_path

    import ultralytics  # noqa: F401  (importing it sets OpenCV's pool itself, cv2.setNumThreads(0): not ours)

    video = make_video(tmp_path / "g.mp4", size=(160, 96), n_frames=6, fps=10.0,
                       objects=[player(0, standing_path(6, (80, 48)))]).path
    before = torch.get_num_threads(), cv2.getNumThreads()
    plan = ThreadPlan.for_cores(8)  # torch 4, OpenCV 2: not this process's own pools
    assert (plan.torch, plan.opencv) != before
    pipe = PipelineConfig(weights="yolov8n.yaml", cores=8, device="cpu").build()
    assert pipe.threads == plan and (torch.get_num_threads(), cv2.getNumThreads()) == before
    pipe.run(video, tmp_path / "out.mp4")
    assert (torch.get_num_threads(), cv2.getNumThreads()) == before

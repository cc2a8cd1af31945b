"""CUDA paths (`make gpu-check` runs these on a GPU machine; without CUDA they are skipped, the
only skips of this kind): the torch backend on CUDA in float32 and float16 against the CPU, and the
ONNX graphs under TensorRT (FP16) against PyTorch when `tensorrt` and `trtexec` are present."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dasiamrpn_core import COMPACT_CHECKPOINT, LITE_CHECKPOINT, load_tracker

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (make gpu-check)")]
FRAMES = 30
FP32_TOL_PX = 0.1    # cuDNN and oneDNN sum in other orders
FP16_TOL_PX = 2.0    # half precision features: a pixel or two on a 640x480 frame


@pytest.mark.parametrize("checkpoint", [COMPACT_CHECKPOINT, LITE_CHECKPOINT], ids=["compact", "lite"])
@pytest.mark.parametrize("mode", ["siamrpn", "dasiamrpn", "longterm"])
def test_cuda_tracks_like_the_cpu(demo_seq, checkpoint, mode):
    runs = {}
    for name, kwargs in (("cpu", {"device": "cpu"}), ("cuda", {"device": "cuda"}),
                         ("cuda_half", {"device": "cuda", "half": True})):
        tracker = load_tracker(checkpoint, mode=mode, **kwargs)
        tracker.init(demo_seq.frames[0], demo_seq.boxes[0])
        runs[name] = np.array([tracker.track(f).box for f in demo_seq.frames[1:FRAMES]])
    assert np.abs(runs["cuda"] - runs["cpu"]).max() < FP32_TOL_PX
    assert np.abs(runs["cuda_half"] - runs["cpu"]).max() < FP16_TOL_PX

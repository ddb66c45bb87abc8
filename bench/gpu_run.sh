#!/usr/bin/env bash
# The one prepared device run for issue 5 (and issue 4's throughput, issue 14's ball tiles), for a session that is lent a GPU machine.
# Here, once (wheels for what the device image lacks, about 39 MB; see /work/.library/device/README.md):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     ultralytics==8.4.190 ultralytics-thop supervision==0.31.2 trackers==2.6.1 filterpy==2.0.0 av==18.1.0 \
#     pydeprecate defusedxml lap==0.5.12
# (the image already has torch, torchvision, numpy, opencv-python-headless, scipy, scikit-learn, matplotlib, rich;
# supervision needs defusedxml, ultralytics' `track` (the naive baseline) needs lap).
# Then: device run with carry [".whl"], command "bash bench/gpu_run.sh", timeout_s 540.
# Rehearsed on the CPU (2026-11-26) with exactly these packages and every other one the image lacks made
# unimportable: all three scripts ran to the end at small sizes.
set -uo pipefail
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site:$PWD || exit 1
fi
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
# 1080p, 10 players: naive vs ours, fp16 (the target: >= 300 fps, >= 10x)
timeout 240 python3 bench/fast_path.py --device cuda --half --size 1920x1080 --frames 600 2>&1 | tee "$OUT/fast_path.txt"
# what each CPU stage costs per frame at 1080p on this machine's cores (what limits the end-to-end rate)
# (+ issue 14: the ball detector on upper-body tiles, batched on the GPU; random yolov8n.yaml weights: cost only)
timeout 140 python3 bench/cpu_stages.py --size 1920x1080 --frames 120 --repeats 2 --ball-tiles yolov8n.yaml --device cuda 2>&1 | tee "$OUT/cpu_stages.txt"
# training throughput, fp32 vs AMP
timeout 120 python3 bench/train_throughput.py --device cuda 2>&1 | tee "$OUT/train_throughput.txt"

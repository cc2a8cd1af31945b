"""``dasiamrpn_benchmarks``: the project's benchmark programs, one console script each (setup.py).

``dasiamrpn-bench`` (``backends``: ``track`` latency per model, mode and backend),
``dasiamrpn-bench-peers`` (``peers``: against CSRT, KCF, NanoTrack on the shared sequences),
``dasiamrpn-bench-longterm`` (``longterm_reappear``: the target leaves the view and returns),
``dasiamrpn-bench-eval`` (``eval_overhead``: the evaluation's own cost and ``--workers`` scaling),
``dasiamrpn-bench-train`` (``train_throughput``: data loader and training-step pairs/s),
``dasiamrpn-bench-ros`` (``ros_latency``: image-in -> box-out over DDS; needs ROS 2) and
``dasiamrpn-gpu-check`` (``gpu_check``: the checks only a GPU machine can run).
``benchmarks/results/`` in the repository holds their recorded outputs (data, not installed).
"""

# The two commands of the Quick start:  `make demo`  and  `make test`.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow bench gpu-check
setup: $(STAMP)

$(STAMP): requirements.txt requirements-node.txt requirements-interfaces.txt setup.py ros_interfaces/build.py \
          $(wildcard ros_interfaces/*/msg/*.msg)
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements.txt
	$(VPY) ros_interfaces/build.py
	$(VPY) -m pip install -q -e . --no-deps
	touch $(STAMP)

demo: $(STAMP)
	ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST $(VENV)/bin/dasiamrpn-demo

# everything but the long checks (about 6 minutes here); CI runs both targets
test: $(STAMP)
	ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST $(VPY) -m pytest -q -m "not slow" test

# the long checks: the SiamRPNBIG/VOT reference trajectories, the 60 Hz run, the init/stop race,
# the training runs (smoke, SIGKILL resume, two-process DDP)
test-slow: $(STAMP)
	ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST $(VPY) -m pytest -q -m slow test

bench: $(STAMP)
	$(VENV)/bin/dasiamrpn-bench

# on a GPU machine: CUDA tests, CUDA latency per precision, TensorRT FP16 engines (benchmarks/gpu_check.py)
gpu-check: $(STAMP)
	$(VPY) benchmarks/gpu_check.py

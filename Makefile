# The two commands of the Quick start:  `make demo`  and  `make test`.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the shared data (sequences, reference trajectories, peers): the library never guesses it from
# where it is installed; tests, benchmarks and the evaluation CLI read this variable
export DASIAMRPN_SHARED ?= $(abspath ../shared)
# vot-toolkit for the evaluation cross-checks, beside the venv and without dependencies (it depends
# on opencv-python, which would replace opencv-contrib-python-headless); only those tests import it
VOT_TOOLKIT := vot-toolkit==0.7.4 attributee==0.1.9 lazy-object-proxy==1.13.0 colorama==0.4.6 \
	phx-class-registry==5.1.1 cachetools==8.0.2 numba==0.68.1 llvmlite==0.50.0 vot-trax==4.0.2 bidict==0.24.1

.PHONY: browser setup demo test test-slow bench gpu-check mutation lint
setup: $(STAMP)

$(STAMP): requirements.txt requirements-node.txt requirements-interfaces.txt setup.py ros_interfaces/build.py \
          $(wildcard ros_interfaces/*/msg/*.msg) $(wildcard ros_interfaces/*/srv/*.srv)
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements.txt
	$(VPY) ros_interfaces/build.py
	$(VPY) -m pip install -q --no-deps --upgrade --target $(VENV)/vot $(VOT_TOOLKIT)
	$(VPY) -m pip install -q -e . --no-deps
	$(MAKE) --no-print-directory browser
	touch $(STAMP)

# Debian's chromium and its chromedriver, for the web page's browser test (test/test_ros_web.py)
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "make setup: apt-get could not install chromium chromium-driver (the web page's browser test needs them)"; \
	else echo "make setup: chromium and chromedriver are missing: sudo apt-get install chromium chromium-driver (the web page's browser test needs them)"; fi

demo: $(STAMP)
	ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST $(VENV)/bin/dasiamrpn-demo

# everything but the long checks (about 6 minutes here); CI runs both targets
test: $(STAMP)
	ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST $(VPY) -m pytest -q -m "not slow" test

# the long checks: the SiamRPNBIG/VOT reference trajectories, the 60 Hz run, the init/stop race,
# the training runs (smoke, SIGKILL resume, two-process DDP)
test-slow: $(STAMP)
	ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST $(VPY) -m pytest -q -m slow test

# ruff (ruff.toml); make test runs it too (test/test_structure.py)
lint: $(STAMP)
	$(VENV)/bin/ruff check .

# track latency per model, mode and backend (benchmarks/backends.py; the other benchmarks: dasiamrpn-bench-*)
bench: $(STAMP)
	$(VENV)/bin/dasiamrpn-bench

# on a GPU machine: CUDA tests, CUDA latency per precision, TensorRT FP16 engines (benchmarks/gpu_check.py)
gpu-check: $(STAMP)
	$(VENV)/bin/dasiamrpn-gpu-check

# mutation testing (not in CI: about an hour here) of the modules that carry the product's claims;
# one module: make mutation MUTANTS='dasiamrpn_core.checkpoint*'. Config: setup.cfg [mutmut];
# mutants the tests cannot tell apart from the original are listed in test/mutation_equivalent.txt
MUTMUT := mutmut==3.8.1
mutation: $(STAMP)
	$(VPY) -m pip install -q $(MUTMUT)
	mkdir -p mutants/tmp
	# forked test runs leave their pytest folders behind (tens of GB over a run): clear stale ones
	while sleep 60; do find mutants/tmp -mindepth 2 -maxdepth 2 -name "pytest-*" -mmin +10 -exec rm -rf {} +; done & \
	trap "kill $$!" EXIT; PYTEST_DEBUG_TEMPROOT=$(CURDIR)/mutants/tmp OMP_NUM_THREADS=1 \
		ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST $(VENV)/bin/mutmut run $(MUTANTS)
	$(VPY) test/mutation_report.py

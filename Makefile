# masknet-edge: the two set-up commands are `make demo` and `make test`; each creates .venv itself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml setup.py edge_runtime/_fastcols.c | cksum | cut -d" " -f1)
# The CPU build of TensorFlow; on a GPU workstation use EXTRAS=train,dev and add tensorflow[and-cuda].
EXTRAS ?= train-cpu,dev
# pytest processes: the suite is mostly waiting on subprocesses and TensorFlow start-ups, so two
# workers cut its wall time on 2 cores (measured 2026-11-30: pytest 593 s serial, 378 s with -n 2).
TEST_WORKERS ?= 2

.PHONY: demo test lint bench bench-peer venv clean legacy jvm signing-interop emulation

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py edge_runtime/_fastcols.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[$(EXTRAS)]"
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(VENV)/bin/masknet demo $(DEMO_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .

test: lint legacy jvm signing-interop
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m "not emulation" $(PYTEST_ARGS)

# The runtime on arm64 under user-mode emulation, nothing installed on the host: Debian's qemu-user
# and arm64 Python 3.11 unpacked into build/emulation/arm64, our wheel installed there by pip under
# emulation (ports/emulation/sysroot.sh); then conformance, golden records and rankings of float,
# dynamic and int8 bundles against this machine's. Best effort: without the network the tests skip.
emulation: $(STAMP)
	-ports/emulation/sysroot.sh build/emulation/arm64 $(PY)
	$(PY) -m pytest -q -m emulation tests/test_emulation.py $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks.run_all

# The quality comparison against the reference's recipe rerun (benchmarks/bench_peer.py) needs FuxiCTR
# 2.3.10 and PyTorch, in a venv of their own (PyPI; the project never imports them). PEER_ARGS: e.g.
# --data criteo,avazu.
FUXICTR_VENV ?= .venv-fuxictr
$(FUXICTR_VENV)/.installed:
	test -x $(FUXICTR_VENV)/bin/python || $(PYTHON) -m venv $(FUXICTR_VENV)
	$(FUXICTR_VENV)/bin/python -m pip install --quiet --disable-pip-version-check fuxictr==2.3.10 "polars<2" torch
	touch $@

bench-peer: $(STAMP) $(FUXICTR_VENV)/.installed
	MASKNET_FUXICTR_PYTHON=$(FUXICTR_VENV)/bin/python $(PY) -m benchmarks.run_all --only peer $(PEER_ARGS)

clean:
	rm -rf $(VENV) $(LEGACY) $(FUXICTR_VENV) $(SIGNING_VENV) build .pytest_cache .ruff_cache .hypothesis

# A second, small venv as on Raspberry-Pi-class boxes: numpy < 2 and the legacy tflite-runtime.
# Best effort: where no tflite-runtime wheel exists for this Python, the test that uses it skips.
LEGACY ?= .venv-legacy
legacy: $(LEGACY)/.installed

$(LEGACY)/.installed:
	-( test -x $(LEGACY)/bin/python || $(PYTHON) -m venv $(LEGACY) ) && \
	  $(LEGACY)/bin/python -m pip install --quiet --disable-pip-version-check "numpy<2" tflite-runtime pyfarmhash && \
	  touch $@

# The reference JVM encoder (ports/jvm): Java 17 and Guava from Debian's packages, installed where they
# are missing and we may (root). Best effort: without them the JVM test skips and says why.
JAVA_CP := /usr/share/java/guava.jar
jvm:
	-@if ! command -v javac >/dev/null || ! test -f $(JAVA_CP); then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && apt-get install -y -qq default-jdk-headless libguava-java) >/dev/null 2>&1 \
	      || echo "jvm: could not install default-jdk-headless libguava-java; the JVM test will skip"; \
	  else echo "jvm: no javac or Guava and not root; the JVM test will skip"; fi; fi
	-@if command -v javac >/dev/null && test -f $(JAVA_CP); then \
	  mkdir -p build/jvm && javac -cp $(JAVA_CP) -d build/jvm ports/jvm/src/masknet/edge/*.java; fi

# The OpenSSF model-signing tool (PyPI), in a venv of its own, so that a test checks that it verifies
# our bundle signatures and that we verify its. Best effort: without it those two tests skip. Its
# 1.1.1 release imports pyOpenSSL without declaring it.
SIGNING_VENV ?= .venv-modelsigning
signing-interop: $(SIGNING_VENV)/.installed

$(SIGNING_VENV)/.installed:
	-( test -x $(SIGNING_VENV)/bin/python || $(PYTHON) -m venv $(SIGNING_VENV) ) && \
	  $(SIGNING_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "model-signing==1.1.1" pyopenssl && \
	  touch $@

# The two set-up commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint format bench clean

$(STAMP): setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[torch,test,litert,app,demo,beam]"
	# TF Serving's request protos for the export tests; its own deps pin an older TF.
	$(PY) -m pip install -q --no-deps "tensorflow-serving-api>=2.17"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m edgeconnect_tf.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Two tiers, both in CI: the fast one (what to run while developing), then the slow one
# (@pytest.mark.slow: browsers, server subprocesses, full-size checks, XLA, conversions).
# One pytest worker per core (pytest-xdist), each test module on one worker.
PYTEST := $(PY) -m pytest -q -ra -n auto --dist loadfile
test: test-fast
	$(PYTEST) --durations=15 -m slow

test-fast: lint
	$(PYTEST) --durations=10 -m "not slow"

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) build *.egg-info

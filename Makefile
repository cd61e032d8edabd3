# The two commands a new user needs:
#   make run    train, convert and compare LSTM, GRU and RNN end to end (artifacts in build/)
#   make test   install what is missing, lint, and run the test suites
# Both install on first use: a venv with pinned wheels, and the Debian Arm tool chain + QEMU.

PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | md5sum | cut -c1-8)
TOOLS   := build/.toolchain-ok
PYTEST_ARGS ?=
# Test workers (pytest-xdist): most tests keep one core busy (QEMU, gcc, a TF conversion).
PYTEST_JOBS ?= 2

.PHONY: run test lint venv toolchain clean fuzz-harness

run: $(STAMP) $(TOOLS)
	$(BIN)/tinyrnn all

test: $(STAMP) $(TOOLS)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(PYTEST_JOBS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

toolchain: $(TOOLS)

# Coverage-guided fuzzing of the protocol harness (FUZZ_SECONDS, default 900; see the script).
FUZZ_SECONDS ?= 900
fuzz-harness:
	bash scripts/fuzz-harness.sh $(FUZZ_SECONDS)

$(TOOLS): scripts/install-toolchain.sh
	bash scripts/install-toolchain.sh
	mkdir -p build && touch $@

clean:
	rm -rf build

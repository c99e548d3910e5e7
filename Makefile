# async-runtime-auditor: the targets the README tells people to type.
#
#   make demo    bootstrap, build, run the lab demo (the main job)
#   make check   bootstrap, build, run every test (what CI runs)
#   make build   compile the core library, async-auditor and the probe
#   make fuzz    run each libFuzzer target for FUZZ_SECONDS (default 300)
#   make bench   run the benchmarks in bench/ (results: docs/benchmarks.md)
#   make format  clang-format the C sources
#   make clean
#
# Everything builds out of tree with Meson into build*/ directories.

VENV    ?= .venv
PY      := $(VENV)/bin/python
MESON   := $(VENV)/bin/meson
BUILD   ?= build
FUZZ_SECONDS ?= 300

.PHONY: all bootstrap build check demo fuzz bench format clean install-probe

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD)/build.ninja: | bootstrap
	$(MESON) setup $(BUILD) $(MESON_ARGS)

build: bootstrap $(BUILD)/build.ninja
	$(MESON) compile -C $(BUILD)

install-probe: bootstrap
	$(PY) -m pip install -q --no-build-isolation .

check: bootstrap
	@scripts/check

demo: bootstrap build install-probe
	@lab/run --auditor $(BUILD)/src/auditor/async-auditor

fuzz: bootstrap
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz

bench: build install-probe
	@bench/run

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-* .pytest_cache

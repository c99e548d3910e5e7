# async-runtime-auditor: the targets the README tells people to type.
#
#   make demo    bootstrap, build, run the lab demo (the main job)
#   make check   bootstrap, build, run every test (what CI runs)
#   make quick   -Werror build, unit tests, CLI cases: the inner loop
#   make build   compile the core library, async-auditor and the probe
#   make fuzz    run each libFuzzer target for FUZZ_SECONDS (default 300)
#   make bench   run the benchmarks in bench/ (results: docs/benchmarks.md)
#   make wheels  the probe's wheels in dist/, one per CPython on this
#                machine, repaired by auditwheel and checked in a venv
#                with no compiler (WHEELS="3.11 3.12" picks some)
#   make format  clang-format the C sources
#   make install    install async-auditor, its man page and its bash and
#                   zsh completions under $(DESTDIR)$(PREFIX) (default
#                   /usr/local); builds first when needed
#   make uninstall  remove exactly those files
#   make lab-exports  regenerate the lab's Grafana dashboard and
#                   Prometheus alerts from lab/rules.yaml
#   make clean
#
# Everything builds out of tree with Meson into build*/ directories.

VENV    ?= .venv
PY      := $(VENV)/bin/python
MESON   := $(VENV)/bin/meson
BUILD   ?= build
FUZZ_SECONDS ?= 300
PREFIX  ?= /usr/local
DESTDIR ?=
AUDITOR := $(BUILD)/src/auditor/async-auditor

# Where `make install` puts things (GNU layout under $(DESTDIR)$(PREFIX)).
BINDIR      = $(PREFIX)/bin
MAN1DIR     = $(PREFIX)/share/man/man1
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  = $(PREFIX)/share/zsh/site-functions

.PHONY: all bootstrap build check quick demo fuzz bench wheels format clean \
	install-probe \
	install uninstall lab-exports

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

# The inner loop, under a minute when warm: the -Werror build of
# $(BUILD), the C unit tests and the CLI cases (bootstrap only when the
# venv is missing).
quick:
	@test -x $(MESON) || scripts/bootstrap
	@if [ -f $(BUILD)/build.ninja ]; then \
		$(MESON) configure $(BUILD) -Dwerror=true; \
	else \
		$(MESON) setup $(BUILD) --werror $(MESON_ARGS); \
	fi
	$(MESON) compile -C $(BUILD)
	$(MESON) test -C $(BUILD) --suite unit --print-errorlogs
	$(PY) tests/cli/run_cases.py \
		--auditor $(BUILD)/src/auditor/async-auditor

demo: bootstrap build install-probe
	@lab/run --auditor $(BUILD)/src/auditor/async-auditor

fuzz: bootstrap
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz

bench: build install-probe
	@bench/run

# scripts/wheels: build, auditwheel show/repair, tests/packaging/wheelcheck.py
wheels: bootstrap
	@scripts/wheels $(WHEELS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Builds when needed (bootstrapping only a missing build directory, so
# that `sudo make install` after `make build` touches nothing else).
install: $(BUILD)/build.ninja
	$(MESON) compile -C $(BUILD)
	install -D -m 0755 $(AUDITOR) $(DESTDIR)$(BINDIR)/async-auditor
	install -D -m 0644 $(BUILD)/docs/async-auditor.1 \
		$(DESTDIR)$(MAN1DIR)/async-auditor.1
	install -D -m 0644 $(BUILD)/docs/async-auditor \
		$(DESTDIR)$(BASHCOMPDIR)/async-auditor
	install -D -m 0644 $(BUILD)/docs/_async-auditor \
		$(DESTDIR)$(ZSHCOMPDIR)/_async-auditor

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/async-auditor \
		$(DESTDIR)$(MAN1DIR)/async-auditor.1 \
		$(DESTDIR)$(BASHCOMPDIR)/async-auditor \
		$(DESTDIR)$(ZSHCOMPDIR)/_async-auditor

# The lab's dashboard and alerting rules are generated from its rule file
# (tests/integration/test_lab_grafana.py fails when they are stale).
lab-exports: build
	$(AUDITOR) rules export lab/rules.yaml --format grafana \
		> lab/grafana/dashboards/async-runtime.json.tmp
	mv lab/grafana/dashboards/async-runtime.json.tmp \
		lab/grafana/dashboards/async-runtime.json
	{ echo '# Generated from lab/rules.yaml by `make lab-exports`:'; \
	  echo '# async-auditor rules export lab/rules.yaml --format prometheus'; \
	  $(AUDITOR) rules export lab/rules.yaml --format prometheus; \
	} > lab/prometheus/alerts.yml.tmp
	mv lab/prometheus/alerts.yml.tmp lab/prometheus/alerts.yml

clean:
	rm -rf build build-* .pytest_cache

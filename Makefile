# Husk — entry points. A fresh Debian 12 (root, .NET SDK, gcc) needs only `make demo` and
# `make test`; both install missing packages first (scripts/install-deps.sh).
#
#   make build   native/build/*.o (nsexec, spawn, startfds), then the NativeAOT CLI -> bin/husk
#   make demo    run one busybox container with bin/husk
#   make test    unit + end-to-end tests, the e2e tests once more in a pure cgroup v2 view;
#                last line: "tests: N passed, M failed[, K skipped]"
#   make bench   bench/run.sh (when it exists)
#   make compat  runc 1.1.5's own integration suite with runc and with bin/husk, side by side
#                (compat/run.sh); writes compat/RESULTS.md, fails on an unlisted Husk regression
#   make clean   remove every build and test output

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build
MAKEFLAGS += --no-print-directory

DOTNET    ?= dotnet
NATIVE_CC ?= gcc
CONFIG    ?= Release

BIN         := bin/husk
PUBLISH_DIR := .build/publish
RESULTS_DIR := .build/test-results
NATIVE_SRC  := native/nsexec.c native/plan.c native/prefault.c native/spawn.c native/startfds.c
NATIVE_OBJ  := $(patsubst native/%.c,native/build/%.o,$(NATIVE_SRC))
NATIVE_CFLAGS := -O2 -Wall -Wextra -Werror -fPIC

export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE := 1
export DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE := 1

# Everything the binary is built from; bin/husk is rebuilt when one of these changes or
# when a file is added or removed (.build/sources.list changes then).
SOURCES := $(shell find src native -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' \
              -o -name '*.targets' -o -name '*.json' -o -name '*.c' -o -name '*.h' \) \
              -not -path '*/obj/*' -not -path '*/bin/*' -not -path 'native/build/*' 2>/dev/null | sort) \
           $(wildcard Directory.Build.props Directory.Build.targets Directory.Packages.props global.json nuget.config NuGet.config)

DOTNET_TEST_FLAGS := --nologo -c $(CONFIG) --results-directory $(RESULTS_DIR)

.PHONY: all build native deps demo test unit e2e e2e-v2 bench compat clean FORCE

all: build

deps:
	@scripts/install-deps.sh

native: $(NATIVE_OBJ)

$(NATIVE_SRC):
	@echo "error: $@ is missing" >&2; exit 1

native/build/%.o: native/%.c $(wildcard native/*.h)
	@mkdir -p $(dir $@)
	$(NATIVE_CC) $(NATIVE_CFLAGS) -c $< -o $@

.build/sources.list: FORCE
	@mkdir -p .build
	@printf '%s\n' $(SOURCES) > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi

$(BIN): $(NATIVE_OBJ) $(SOURCES) .build/sources.list
	@mkdir -p .build $(dir $@)
	@# One build at a time: concurrent publishes into the same obj/ directories break each other.
	flock .build/build.lock $(DOTNET) publish src/Husk.Cli/Husk.Cli.csproj --nologo -c $(CONFIG) -o $(PUBLISH_DIR) -v minimal
	@cp $(PUBLISH_DIR)/husk $@.tmp.$$$$ && chmod 0755 $@.tmp.$$$$ && mv -f $@.tmp.$$$$ $@
	@# husk-vm: the same binary, for a runtime entry that can only name a binary; it defaults to VM isolation.
	@ln -sfn husk $(dir $@)husk-vm
	@echo "built $@"

build: $(BIN)

demo: deps build
	@scripts/demo.sh

# The test target runs the build itself (not as a prerequisite) so that it always ends
# with the summary line, even when the build fails (then: 0 passed, 0 failed, exit 1).
test: deps
	@rm -rf $(RESULTS_DIR); mkdir -p $(RESULTS_DIR)
	@if ! $(MAKE) build; then \
	    echo "make test: the build failed" >&2; \
	    echo "tests: 0 passed, 0 failed"; exit 1; \
	fi
	@rc=0; \
	$(MAKE) unit || rc=1; \
	$(MAKE) e2e || rc=1; \
	$(MAKE) e2e-v2 || rc=1; \
	scripts/test-summary.sh $(RESULTS_DIR)/unit.trx $(RESULTS_DIR)/e2e.trx $(RESULTS_DIR)/e2e-v2.trx || rc=1; \
	exit $$rc

unit:
	$(DOTNET) test tests/Husk.Tests $(DOTNET_TEST_FLAGS) --logger "trx;LogFileName=unit.trx"

# End-to-end tests run real containers (as root) with the published binary. A hung test is
# killed after 15 minutes so that CI still reports. HUSK_TEST_CRIU passes through if set.
e2e: $(BIN)
	HUSK_BINARY=$(CURDIR)/$(BIN) $(DOTNET) test tests/Husk.E2E $(DOTNET_TEST_FLAGS) \
	    --logger "trx;LogFileName=e2e.trx" --blame-hang-timeout 15m --blame-hang-dump-type none

# The end-to-end tests as on a pure cgroup v2 host: a private mount namespace whose /sys/fs/cgroup
# is a cgroup2 mount (scripts/cgroup-v2-view.sh); what such a host lacks is skipped with its reason.
e2e-v2: $(BIN)
	scripts/cgroup-v2-view.sh env HUSK_BINARY=$(CURDIR)/$(BIN) $(DOTNET) test tests/Husk.E2E $(DOTNET_TEST_FLAGS) \
	    --logger "trx;LogFileName=e2e-v2.trx" --blame-hang-timeout 15m --blame-hang-dump-type none

bench: build
	@if [[ -x bench/run.sh ]]; then bench/run.sh; \
	elif [[ -f bench/run.sh ]]; then bash bench/run.sh; \
	else echo "make bench: bench/run.sh does not exist yet"; fi

# runc's integration suite (Debian's runc 1.1.5 source package) run with runc and with Husk;
# see compat/run.sh. Downloads and builds are cached in .build/compat.
compat: deps build
	@compat/run.sh

clean:
	rm -rf bin .build native/build TestResults
	rm -rf src/*/bin src/*/obj tests/*/bin tests/*/obj

FORCE:

# Two commands do all set-up on a fresh Debian 12 machine: `make demo` and `make test`.
SHELL := /bin/bash
SWIFT ?= swift
DEMO_DIR ?= demo-out
FUZZ_ITERATIONS ?= 100000
MEDIA_FUZZ_ITERATIONS ?= 10000

.PHONY: setup build release test test-scale demo bench bench-serve fuzz worlds clean

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

# The last line is `tests: N passed, F failed, S skipped` (scripts/test-summary.sh); with CI=true a skip fails.
test: setup
	$(SWIFT) build --build-tests
	@mkdir -p .build; set -o pipefail; $(SWIFT) test --skip-build 2>&1 | tee .build/test.log; status=$$?; \
	bash scripts/test-summary.sh .build/test.log || status=1; exit $$status

# The scale-out tests (issue 18): the Ray driver in python/ on a local Ray, against the debug build. Closes with
# `scale: N passed, F failed`. .ci/run runs it after `make test`.
test-scale: setup
	$(SWIFT) build
	@bash scripts/test-scale.sh

demo: release
	bash scripts/demo.sh $(DEMO_DIR)

bench: release
	bash scripts/bench.sh

# The server's part of `make bench` alone (issue #17): predict under 16 wrk clients against the library, 1M-step listings.
bench-serve: release
	bash scripts/bench-serve.sh

# The cross-world report (issue #15): every world family × seeds 1, 2 with the one recipe, beside ridge and the oracles.
worlds: release
	bash scripts/worlds.sh worlds-out

# libFuzzer targets (Fuzz/, scripts/fuzz.sh: fixed executions, crashers kept in Fuzz/regressions), then the XCTest
# mutation fuzzers (FUZZ_ITERATIONS per Formats reader, MEDIA_FUZZ_ITERATIONS media files), then the media leak check.
fuzz: setup
	SWIFT=$(SWIFT) bash scripts/fuzz.sh
	$(SWIFT) build --build-tests
	WORLDGPT_FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) WORLDGPT_MEDIA_FUZZ_ITERATIONS=$(MEDIA_FUZZ_ITERATIONS) $(SWIFT) test --skip-build --filter Fuzz
	SWIFT=$(SWIFT) bash scripts/media-leakcheck.sh

clean:
	rm -rf .build $(DEMO_DIR)

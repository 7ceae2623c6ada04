# campusgate — see README.md. Every target is safe to run on a fresh clone; none rewrites source files.
GO        ?= go
CMDS      := $(notdir $(wildcard cmd/*))
BIN       := bin
BENCHTIME ?= 1s
# The gate boxes are 32- and 64-bit ARM (Pi Zero 2 W … Pi 5, CM4); the Pi 1 / Zero W is ARMv6.
CROSS     := arm64 arm7 arm6

.PHONY: all build test vet fmt-check unit fuzz bench soak cross run clean deb deb-check qemu-test $(addprefix cross-,$(CROSS))

all: build

build:
	$(GO) build ./...
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

# test = formatting check (read-only), vet, and the race-enabled test suite.
test: fmt-check vet unit

fmt-check:
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	GOARCH=arm GOARM=6 $(GO) vet ./...

# The tests that the race detector makes too slow (they skip under -race) run once more without it; the store's
# tests run a second time against PostgreSQL (sync/store/pgtest: the installed server, started for the test).
unit:
	$(GO) test -count=1 -run 'TestSeventyThousand' ./sync/ingest
	$(GO) test -race -count=1 ./...
	CAMPUSGATE_TEST_STORE=postgres $(GO) test -race -count=1 ./sync/store

# fuzz runs every fuzz target for FUZZTIME each (.ci/fuzz: how the targets are found, and Go 1.26's deadline race
# at the end of -fuzztime told from a failing input). A failing input is written to the package's testdata/fuzz/ and
# fails the target: commit it with the fix, and it is a regression test of make test from then on.
FUZZTIME     ?= 10s
FUZZPARALLEL ?= 1
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZPARALLEL=$(FUZZPARALLEL) bash .ci/fuzz

# bench prints every figure; a benchmark named X/baseline is printed next to its sibling X/ours (and any other
# X/... variant), each as the median of BENCHCOUNT runs: fsync times on a VM drift from one second to the next.
BENCHCOUNT ?= 3
bench:
	@mkdir -p $(BIN)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./... | tee $(BIN)/bench.txt
	@echo; echo "== ours vs. baseline, median of $(BENCHCOUNT) runs (same run) =="
	@awk '/^Benchmark/ { n=$$1; sub(/-[0-9]+$$/, "", n); k=++cnt[n]; ln[n,k]=$$0; ns[n,k]=$$3+0 } \
	     function median(n,   i, j, t, c, idx) { c=cnt[n]; for (i=1;i<=c;i++) idx[i]=i; \
	       for (i=1;i<=c;i++) for (j=i+1;j<=c;j++) if (ns[n,idx[j]] < ns[n,idx[i]]) { t=idx[i]; idx[i]=idx[j]; idx[j]=t } \
	       return ln[n, idx[int((c+1)/2)]] } \
	     END { for (n in cnt) if (n ~ /\/baseline$$/) { p=n; sub(/\/baseline$$/, "/", p); \
	           for (m in cnt) if (index(m, p) == 1 && m != n) print median(m); print median(n); print "" } }' $(BIN)/bench.txt

# soak: the whole system (gatectl sim up: campusd and two simulated gates) under load for SOAK_DURATION (people at
# both gates, gatectl sim fleet runs one after another); prints each process's goroutines, Go heap and RSS after a
# warm-up and at the end, and fails on growth (cmd/gatectl/soak_test.go, soakLimits). A long run: SOAK_DURATION=1h.
SOAK_DURATION ?= 2m
soak:
	CAMPUSGATE_SOAK=$(SOAK_DURATION) $(GO) test -count=1 -run '^TestSoak$$' -v -timeout 0 ./cmd/gatectl

cross: $(addprefix cross-,$(CROSS))
	@echo; echo "== binary sizes =="
	@for d in $(addprefix $(BIN)/linux_,$(CROSS)); do for f in $$d/*; do \
	   printf '%-28s %8d KiB\n' "$$f" $$(( $$(stat -c %s $$f) / 1024 )); done; done

cross-arm64:
	@mkdir -p $(BIN)/linux_arm64
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -o $(BIN)/linux_arm64/ ./cmd/...
cross-arm7:
	@mkdir -p $(BIN)/linux_arm7
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -o $(BIN)/linux_arm7/ ./cmd/...
cross-arm6:
	@mkdir -p $(BIN)/linux_arm6
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 $(GO) build -trimpath -o $(BIN)/linux_arm6/ ./cmd/...

# run: the whole system on this machine: campusd (embedded broker and database) and simulated gates whose
# emulated devices go through the real drivers, syncing to it. State in .campusgate-run/; Ctrl-C stops it all.
SIMFLAGS ?= -gates 2 -checkpoints 1 -demo 10s
run: build
	$(BIN)/gatectl sim up $(SIMFLAGS)

# deb: the packages (nfpm, pinned, run with go run: nothing to install) in dist/: campusgate-gate for arm64 and
# armhf (built for ARMv6, so one package runs on every Pi), campusgate-server and campusgate-tools for those and amd64,
# campusgate-kiosk (scripts only) for all.
VERSION ?= 0.1.0+git$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
NFPM    ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
DIST    := dist
deb:
	@mkdir -p $(DIST); rm -f $(DIST)/campusgate-*.deb
	@set -e; for t in arm64:arm64: armhf:arm:6 amd64:amd64:; do \
	  deb=$${t%%:*}; rest=$${t#*:}; goarch=$${rest%%:*}; goarm=$${rest#*:}; dir=$(BIN)/deb/stage; rm -rf $$dir; mkdir -p $$dir; \
	  echo "== $$deb (GOARCH=$$goarch GOARM=$$goarm)"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$goarch GOARM=$$goarm $(GO) build -trimpath -ldflags "-s -w" -o $$dir/ ./cmd/...; \
	  pkgs="tools server"; [ $$deb = amd64 ] || pkgs="$$pkgs gate"; \
	  for p in $$pkgs; do \
	    DEB_ARCH=$$deb VERSION=$(VERSION) $(NFPM) pkg --packager deb --config deploy/nfpm/$$p.yaml --target $(DIST)/; \
	  done; \
	done
	DEB_ARCH=all VERSION=$(VERSION) $(NFPM) pkg --packager deb --config deploy/nfpm/kiosk.yaml --target $(DIST)/
	@ls -l $(DIST)/*.deb

# deb-check: what the packages hold (files, modes, scripts), and that their systemd units pass systemd-analyze verify.
deb-check: deb
	bash deploy/scripts/check-debs.sh $(DIST)

# qemu-test: the unit tests of every package gated is built from (go list -deps), built for arm64 and ARMv6 and
# run under qemu-user (Debian's qemu-user-static), as they would run on a Pi. cmd/gated's own tests start the
# binaries and servers of this machine, so they are left to make test.
QEMU_PKGS ?= $(shell $(GO) list -deps -f '{{if not .Standard}}{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}{{end}}' ./cmd/gated | \
	grep '^campusgate/' | grep -vx 'campusgate/cmd/gated' | sed 's#^campusgate/#./#')
qemu-test:
	@set -e; for t in arm64:arm64::qemu-aarch64-static arm6:arm:6:qemu-arm-static; do \
	  name=$${t%%:*}; rest=$${t#*:}; goarch=$${rest%%:*}; rest=$${rest#*:}; goarm=$${rest%%:*}; qemu=$${rest#*:}; \
	  command -v $$qemu >/dev/null || { if [ "$$CI" = true ]; then echo "$$qemu missing (apt-get install qemu-user-static)"; exit 1; fi; \
	    echo "$$qemu not installed: skipping $$name"; continue; }; \
	  dir=$(BIN)/qemu/$$name; mkdir -p $$dir; \
	  for p in $(QEMU_PKGS); do \
	    out=$$dir/$$(echo $$p | tr -c 'a-z0-9\n' '_').test; \
	    rm -f $$out; CGO_ENABLED=0 GOOS=linux GOARCH=$$goarch GOARM=$$goarm $(GO) test -c -o $$out $$p; \
	    [ -f $$out ] || { echo "$$p has no tests"; continue; }; \
	    if ! (cd $$p && $$qemu $(CURDIR)/$$out -test.short -test.v -test.timeout 10m >$(CURDIR)/$$out.log 2>&1); then \
	      cat $$out.log; echo "FAIL: $$p under $$qemu"; exit 1; fi; \
	    printf '%-8s %-22s %4d tests passed\n' $$name $$p $$(grep -c -- '^--- PASS' $$out.log); \
	  done; \
	done

clean:
	rm -rf $(BIN) $(DIST)

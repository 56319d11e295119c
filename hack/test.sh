#!/usr/bin/env bash
# Runs the whole test suite: vet, unit, integration and end-to-end tests,
# and a bounded run of every fuzz target. Run as root on Debian.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
ensure_go
if (( EUID == 0 )); then apt_install containerd runc containernetworking-plugins iptables nftables conntrack busybox-static; fi

# The integration and end-to-end tests drive the real /usr/bin/kubectl
# (v1.27 or newer); they skip their kubectl parts when it is missing.
if [[ ! -x /usr/bin/kubectl ]]; then
	echo "warning: /usr/bin/kubectl not found; kubectl tests will be skipped" >&2
fi

start=$(date +%s)
echo ">> go vet"
go vet ./...
echo ">> go build"
go build -o bin/bosun ./cmd/bosun
echo ">> unit, integration and end-to-end tests"
go test -count=1 -timeout 20m ./...
echo ">> fuzz targets (FUZZ_COUNT=${FUZZ_COUNT:-5000x} each)"
if [[ -x hack/fuzz.sh ]]; then
	hack/fuzz.sh
fi
echo ">> all tests passed in $(( $(date +%s) - start ))s"

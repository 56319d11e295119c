#!/usr/bin/env bash
# Runs the whole test suite: vet, unit, integration and end-to-end tests,
# and a bounded run of every fuzz target. Run as root on Debian.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
ensure_go

# The end-to-end and integration tests drive the real kubectl.
if ! command -v kubectl >/dev/null 2>&1; then
	apt_install kubernetes-client || true
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

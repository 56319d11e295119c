#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a bounded number of inputs
# each, one target at a time (go test -fuzz accepts one). FUZZ_COUNT sets
# the bound, as -fuzztime takes it: "5000x" inputs (the default) or a
# duration such as "30s". Exits non-zero when any target fails; a failing
# input is saved under the package's testdata/fuzz/ for go test to replay.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
ensure_go

count="${FUZZ_COUNT:-5000x}"
start=$(date +%s)
failed=()
# Packages with a fuzz target, found by their test files.
mapfile -t pkgs < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -r -n1 dirname | sort -u)
for pkg in "${pkgs[@]}"; do
	if ! list="$(go test -list '^Fuzz' "$pkg")"; then
		failed+=("$pkg (listing its targets)")
		continue
	fi
	mapfile -t targets < <(grep '^Fuzz' <<<"$list")
	for t in "${targets[@]}"; do
		echo ">> $pkg $t ($count)"
		if ! go test "$pkg" -run '^$' -fuzz "^${t}\$" -fuzztime "$count"; then
			failed+=("$pkg $t")
		fi
	done
done
echo ">> fuzzing took $(( $(date +%s) - start ))s"
if ((${#failed[@]})); then
	printf 'failed: %s\n' "${failed[@]}" >&2
	exit 1
fi

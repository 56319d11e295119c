#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a bounded number of inputs
# each (go test -fuzz takes one target at a time). FUZZ_COUNT sets the
# bound, as -fuzztime takes it: "5000x" inputs (the default) or a
# duration such as "30s". FUZZ_JOBS targets run at once (default 2), each
# with one fuzzing worker: most of a target's time is building and
# starting its test binary, which one core does while the other fuzzes.
# Exits non-zero when any target fails; a failing input is saved under
# the package's testdata/fuzz/ for go test to replay.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
ensure_go

count="${FUZZ_COUNT:-5000x}"
jobs="${FUZZ_JOBS:-2}"
start=$(date +%s)
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

# Packages with a fuzz target, found by their test files; then each
# package's targets, one "package target" line each.
mapfile -t pkgs < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -r -n1 dirname | sort -u)
failed=()
targets=()
for pkg in "${pkgs[@]}"; do
	if ! list="$(go test -list '^Fuzz' "$pkg")"; then
		failed+=("$pkg (listing its targets)")
		continue
	fi
	while read -r t; do
		targets+=("$pkg $t")
	done < <(grep '^Fuzz' <<<"$list")
done

# run_one PKG TARGET writes the target's output to its own log and an
# ".ok" marker when it passes.
run_one() {
	local pkg="$1" t="$2" log
	log="$logs/$(tr '/.' '__' <<<"$pkg")-$t"
	if go test "$pkg" -run '^$' -fuzz "^${t}\$" -fuzztime "$count" -parallel 1 >"$log.out" 2>&1; then
		touch "$log.ok"
	fi
	# One target's output at a time, whole.
	flock "$logs/.print" sh -c 'echo ">> $1 $2 ($3)"; cat "$4"' _ "$pkg" "$t" "$count" "$log.out"
}
export -f run_one
export count logs
printf '%s\n' "${targets[@]}" | xargs -r -P "$jobs" -L 1 bash -c 'run_one "$0" "$1"'

for line in "${targets[@]}"; do
	read -r pkg t <<<"$line"
	[[ -e "$logs/$(tr '/.' '__' <<<"$pkg")-$t.ok" ]] || failed+=("$pkg $t")
done
echo ">> fuzzing ${#targets[@]} targets took $(( $(date +%s) - start ))s"
if ((${#failed[@]})); then
	printf 'failed: %s\n' "${failed[@]}" >&2
	exit 1
fi

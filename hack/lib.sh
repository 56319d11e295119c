# Shared by the hack/ scripts: find or install a Go toolchain new enough
# for go.mod, with the module and build caches kept warm.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO_WANT="go1.26.8"

# ensure_go puts a Go >= 1.26 on PATH. On a machine without one it
# installs Debian's golang-go and lets the go command fetch the toolchain
# named in GO_WANT from the Go module proxy.
ensure_go() {
	export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
	if command -v go >/dev/null 2>&1 && go_ok; then
		return
	fi
	if ! command -v go >/dev/null 2>&1; then
		echo ">> installing Debian's golang-go to bootstrap the Go toolchain"
		apt_install golang-go
	fi
	export GOTOOLCHAIN="$GO_WANT"
	go version >/dev/null
	go_ok || { echo "could not get a Go toolchain >= 1.26" >&2; exit 1; }
}

go_ok() {
	local v
	v="$(go env GOVERSION 2>/dev/null || true)"
	v="${v#go}"
	local major="${v%%.*}" rest="${v#*.}"
	local minor="${rest%%.*}"
	[[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
	(( major > 1 || (major == 1 && minor >= 26) ))
}

APT_UPDATED=0
# apt_install installs the named Debian packages that are missing.
apt_install() {
	local missing=()
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	if ((APT_UPDATED == 0)); then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

build_bosun() {
	(cd "$REPO_ROOT" && go build -o bin/bosun ./cmd/bosun)
}

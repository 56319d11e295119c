#!/usr/bin/env bash
# Builds bin/bosun and the API server, scheduler, cluster DNS, RBAC decision,
# security (pod creates under Node,RBAC and AlwaysAllow), service proxy and
# node agent benchmarks, then runs them (the proxy's and the node agent's
# only as root, as they program nftables and run containers).
# Arguments go to the API server benchmark, e.g.:
#   bench/run.sh -scenarios coldstart,watch
#   bench/run.sh -creates 2000 -list-pods 1000      # a quick smoke run
# Each scenario starts its own `bosun server` process; the table at the end
# lists every figure next to its target.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../hack/lib.sh"
ensure_go
cd "$REPO_ROOT"

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
	commit="$commit (tree modified)"
fi
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "commit:  $commit"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(go env GOVERSION)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
echo

build_bosun
go build -o bin/bench-apiserver ./bench/apiserver
bin/bench-apiserver -bin bin/bosun "$@"
go build -o bin/bench-scheduler ./bench/scheduler
bin/bench-scheduler -bin bin/bosun -shape basic
bin/bench-scheduler -bin bin/bosun -shape anti-affinity
bin/bench-scheduler -bin bin/bosun -shape spread
bin/bench-scheduler -bin bin/bosun -shape deployment
bin/bench-scheduler -bin bin/bosun -shape heartbeats
go build -o bin/bench-dns ./bench/dns
bin/bench-dns
go build -o bin/bench-rbac ./bench/rbac
bin/bench-rbac
go build -o bin/bench-security ./bench/security
bin/bench-security -bin bin/bosun
go build -o bin/bench-agent ./bench/agent
go build -o bin/bench-proxy ./bench/proxy
if [[ $EUID -eq 0 ]]; then
	bin/bench-proxy
	# The ingress scenario compares with nginx under wrk. Installing nginx
	# must not start it (it would take port 80), hence the policy-rc.d.
	if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
		apt_install nginx-light wrk
		rm -f /usr/sbin/policy-rc.d
	fi
	bin/bench-agent -bin bin/bosun -scenarios idle,startup,probes,capacity,ingress
else
	echo "== node agent and service proxy: skipped (containers and nftables need root)"
fi
echo
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"

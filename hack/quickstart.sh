#!/usr/bin/env bash
# Builds bosun, installs it to /usr/local/bin, starts a single-node
# cluster in the background and prints how to point kubectl at it.
# Run as root on Debian. Safe to run again: it restarts the server on the
# same data dir, keeping the cluster's state.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

DATA_DIR="${BOSUN_DATA_DIR:-/var/lib/bosun}"
PORT="${BOSUN_PORT:-6443}"
LOG="${BOSUN_LOG:-/var/log/bosun.log}"

if [[ $EUID -ne 0 ]]; then
	echo "run as root (the server keeps its state in $DATA_DIR)" >&2
	exit 1
fi
ensure_go
# The node agent runs pods through containerd and runc, on a bridge set up
# by the standard CNI plugins.
apt_install containerd runc containernetworking-plugins iptables nftables conntrack
if ! command -v kubectl >/dev/null 2>&1; then
	apt_install kubernetes-client || echo "kubectl is not installed; install it to talk to the cluster"
fi
echo ">> building bosun"
build_bosun
install -m 0755 bin/bosun /usr/local/bin/bosun

if [[ -f "$DATA_DIR/bosun.pid" ]] && kill -0 "$(cat "$DATA_DIR/bosun.pid")" 2>/dev/null; then
	echo ">> stopping the running server"
	kill -TERM "$(cat "$DATA_DIR/bosun.pid")"
	for _ in $(seq 1 100); do kill -0 "$(cat "$DATA_DIR/bosun.pid")" 2>/dev/null || break; sleep 0.1; done
fi
mkdir -p "$DATA_DIR"
echo ">> starting bosun server (log: $LOG)"
nohup /usr/local/bin/bosun server --data-dir "$DATA_DIR" --https-listen-port "$PORT" >>"$LOG" 2>&1 &
echo $! >"$DATA_DIR/bosun.pid"
for _ in $(seq 1 300); do
	if curl -skf "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
		echo
		echo "bosun is running (pid $(cat "$DATA_DIR/bosun.pid")). Point kubectl at it:"
		echo
		echo "    export KUBECONFIG=$DATA_DIR/kubeconfig.yaml"
		echo "    kubectl get nodes"
		echo
		echo "Stop it with: kill \$(cat $DATA_DIR/bosun.pid)"
		exit 0
	fi
	if ! kill -0 "$(cat "$DATA_DIR/bosun.pid")" 2>/dev/null; then
		echo "bosun server exited; last log lines:" >&2
		tail -20 "$LOG" >&2
		exit 1
	fi
	sleep 0.1
done
echo "bosun server did not become ready in 30s; see $LOG" >&2
exit 1

#!/usr/bin/env bash
# Installs the command-line tools the tests run besides Go and the Debian
# packages, each at a pinned version, built from its Go module into
# TOOLS_BIN (default /usr/local/bin). A tool already there at its version
# is left alone, so running this again costs nothing. .ci/run calls it.
#
# Add a tool: a pinned version below and an install_NAME function that
# skips when the binary is current.
set -euo pipefail

TOOLS_BIN="${TOOLS_BIN:-/usr/local/bin}"

# helm: renders and lints deploy/helm/studio (deploy/helm's tests).
# v4 is preferred; v3 is the fallback should v4 not build here.
HELM_MODULE=helm.sh/helm/v4
HELM_VERSION=v4.3.2
HELM_FALLBACK_MODULE=helm.sh/helm/v3
HELM_FALLBACK_VERSION=v3.21.4

# promtool: checks /metrics in both formats, deploy/prometheus's rules
# and their unit tests (cmd/studio's and deploy's tests). Built from the
# Prometheus module, whose versions are v0.3xx.y for Prometheus 3.xx.y;
# v0.315.x is the fallback.
PROMTOOL_MODULE=github.com/prometheus/prometheus
PROMTOOL_VERSION=v0.316.0
PROMTOOL_FALLBACK_VERSION=v0.315.1

die() { echo "scripts/tools.sh: $*" >&2; exit 1; }

# module_of BINARY prints "module version" of a Go binary, if it is one.
# Prints nothing (and succeeds) when the file is missing or not a Go binary.
module_of() {
	[ -f "$1" ] || return 0
	{ go version -m "$1" 2>/dev/null || true; } | awk '$1 == "mod" { print $2, $3; exit }'
}

install_helm() {
	local have
	have=$(module_of "$TOOLS_BIN/helm")
	if [ "$have" = "$HELM_MODULE $HELM_VERSION" ] || [ "$have" = "$HELM_FALLBACK_MODULE $HELM_FALLBACK_VERSION" ]; then
		return
	fi
	echo "scripts/tools.sh: building helm $HELM_VERSION into $TOOLS_BIN (a few minutes)"
	if ! GOBIN="$TOOLS_BIN" go install "$HELM_MODULE/cmd/helm@$HELM_VERSION"; then
		echo "scripts/tools.sh: helm $HELM_VERSION did not build; trying $HELM_FALLBACK_VERSION" >&2
		GOBIN="$TOOLS_BIN" go install "$HELM_FALLBACK_MODULE/cmd/helm@$HELM_FALLBACK_VERSION" ||
			die "could not build helm"
	fi
}

install_promtool() {
	local have
	have=$(module_of "$TOOLS_BIN/promtool")
	if [ "$have" = "$PROMTOOL_MODULE $PROMTOOL_VERSION" ] || [ "$have" = "$PROMTOOL_MODULE $PROMTOOL_FALLBACK_VERSION" ]; then
		return
	fi
	echo "scripts/tools.sh: building promtool $PROMTOOL_VERSION into $TOOLS_BIN (several minutes)"
	if ! GOBIN="$TOOLS_BIN" go install "$PROMTOOL_MODULE/cmd/promtool@$PROMTOOL_VERSION"; then
		echo "scripts/tools.sh: promtool $PROMTOOL_VERSION did not build; trying $PROMTOOL_FALLBACK_VERSION" >&2
		GOBIN="$TOOLS_BIN" go install "$PROMTOOL_MODULE/cmd/promtool@$PROMTOOL_FALLBACK_VERSION" ||
			die "could not build promtool"
	fi
}

command -v go >/dev/null || die "go not found on PATH"
mkdir -p "$TOOLS_BIN"
install_helm
install_promtool
"$TOOLS_BIN/helm" version --short
"$TOOLS_BIN/promtool" --version 2>&1 | head -1

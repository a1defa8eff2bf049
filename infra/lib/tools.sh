# shellcheck shell=bash
# Installs the local tools Portico's scripts need into .tools/ (git-ignored), once.
# Sourced by infra/dev and infra/test; safe to run again: each step checks first.
#
#   .tools/venv          cargo-lambda, cfn-lint, aws-sam-cli, ziglang, schemathesis (PyPI)
#   .tools/node_modules  dynalite (npm), the DynamoDB-compatible server
#
# Versions are pinned so a fresh machine gets what was measured (see ../shared/DESIGN.md).

PORTICO_ROOT=${PORTICO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TOOLS_DIR=${PORTICO_TOOLS_DIR:-$PORTICO_ROOT/.tools}
VENV=$TOOLS_DIR/venv

PIP_PACKAGES=(
  "cargo-lambda==1.9.2"
  "cfn-lint==1.58.*"
  "aws-sam-cli==1.170.*"
  "ziglang==0.13.*"
  "schemathesis==4.32.*"
)
DYNALITE_VERSION=4.0.0

log() { printf '[portico] %s\n' "$*" >&2; }

# install_python_tools [minimal]: "minimal" installs only cargo-lambda (what `infra/dev` needs).
install_python_tools() {
  local want=("${PIP_PACKAGES[@]}")
  [ "${1:-}" = minimal ] && want=("${PIP_PACKAGES[0]}")
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip >/dev/null
  fi
  local missing=()
  for spec in "${want[@]}"; do
    local name=${spec%%=*}
    "$VENV/bin/pip" show --quiet "$name" >/dev/null 2>&1 || missing+=("$spec")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    "$VENV/bin/pip" install --quiet "${missing[@]}"
  fi
  export PATH="$VENV/bin:$PATH"
  export SAM_CLI_TELEMETRY=0
}

install_dynalite() {
  if [ ! -f "$TOOLS_DIR/node_modules/dynalite/cli.js" ]; then
    command -v npm >/dev/null || { log "npm is required (Node.js 18+)"; return 1; }
    log "installing dynalite $DYNALITE_VERSION"
    mkdir -p "$TOOLS_DIR"
    (cd "$TOOLS_DIR" && npm install --silent --no-audit --no-fund --prefix "$TOOLS_DIR" "dynalite@$DYNALITE_VERSION" >/dev/null)
  fi
  DYNALITE_CLI=$TOOLS_DIR/node_modules/dynalite/cli.js
}

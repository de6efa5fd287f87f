#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, only when it is missing:
# grpcio + grpcio-tools + PyJWT (interop with the Python reference), the official openai and
# anthropic SDKs (the HTTP API tests' clients), kubectl (client tests),
# redis-server (the shared-state store's tests start real ones), script (pseudo-terminal tests),
# pebble (the ACME tests run a real ACME CA), systemd-analyze (the deploy/ unit is verified),
# and the reference vibectl==0.11.6 in target/interop/refvenv (the server's and the client's
# parity tests read its --help).
set -euo pipefail

need_apt=()
command -v kubectl >/dev/null 2>&1 || need_apt+=(kubectl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v script >/dev/null 2>&1 || need_apt+=(bsdutils)
command -v pebble >/dev/null 2>&1 || need_apt+=(pebble)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
python3 -c 'import ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "test-deps: installing ${need_apt[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

if ! python3 -c 'import grpc, grpc_tools, jwt' >/dev/null 2>&1; then
  echo "test-deps: installing grpcio, grpcio-tools, pyjwt with pip"
  python3 -m pip install -q --disable-pip-version-check grpcio grpcio-tools pyjwt \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages grpcio grpcio-tools pyjwt
fi

if ! python3 -c 'import openai, anthropic' >/dev/null 2>&1; then
  echo "test-deps: installing openai, anthropic with pip"
  python3 -m pip install -q --disable-pip-version-check openai anthropic \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages openai anthropic
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/interop/refvenv"
if [ ! -x "$venv/bin/vibectl-server" ]; then
  echo "test-deps: installing the reference vibectl==0.11.6 into $venv"
  mkdir -p "$root/target/interop"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check vibectl==0.11.6
fi

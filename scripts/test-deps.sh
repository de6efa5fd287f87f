#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, only when it is missing:
# grpcio + grpcio-tools + PyJWT (interop with the Python reference), kubectl (client tests),
# redis-server (the shared-state store's tests start real ones), script (pseudo-terminal tests),
# and the reference client 0.11.6 (the client parity test reads its --help).
set -euo pipefail

need_apt=()
command -v kubectl >/dev/null 2>&1 || need_apt+=(kubectl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v script >/dev/null 2>&1 || need_apt+=(bsdutils)
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

# The reference client 0.11.6, whose own --help the client's parity test reads.
ref="$(cd "$(dirname "$0")/.." && pwd)/target/interop/refclient"
if [ ! -e "$ref/.installed-0.11.6" ]; then
  echo "test-deps: installing the reference client vibectl==0.11.6 into $ref"
  python3 -m venv "$ref"
  "$ref/bin/python" -m pip install -q --disable-pip-version-check vibectl==0.11.6
  touch "$ref/.installed-0.11.6"
fi

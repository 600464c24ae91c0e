# Debian's redis-server, for tests/redis.rs and benches/state.rs (they start
# their own server on a free port). Exports WARD_REDIS_SERVER.
if ! command -v redis-server >/dev/null 2>&1; then
  ward_apt_install redis-server
  # The package starts a system service; the tests start their own.
  (service redis-server stop || true) >/dev/null 2>&1
fi
WARD_REDIS_SERVER="$(command -v redis-server)"
export WARD_REDIS_SERVER

#!/usr/bin/env bash
# Starts, stops and reports the real services Saqshy's integration tests run against:
#
#   scripts/services.sh start|stop|status  postgres|redis|elasticsearch|all
#
# Every sub-command is idempotent (starting a running service or stopping a stopped one is a
# no-op), so .ci/run can call it twice and the outage tests can stop and restart Elasticsearch.
# All services listen on loopback only:
#   PostgreSQL  127.0.0.1:5432  role saqshy / password saqshy, database saqshy_test
#   Redis       127.0.0.1:6379  (no persistence: it only carries jobs)
#   Elasticsearch 127.0.0.1:9200  integ-test-zip from Maven Central, security off, single node
#
# The programs themselves (postgresql, redis-server, Java 17, maven, unzip, curl) are installed by
# .ci/run; this script only uses them. Overrides (environment):
#   SAQSHY_SERVICES_DIR   state (data, logs, pid files, the unpacked Elasticsearch); default
#                         /var/cache/saqshy when root (the Elasticsearch user must be able to
#                         reach it, and /root is private), else ~/.cache/saqshy
#   SAQSHY_ES_VERSION     8.19.7          SAQSHY_ES_USER   saqshy-es (created when root)
#   SAQSHY_ES_HEAP        512m            SAQSHY_ES_WAIT_SECONDS  180
#   SAQSHY_JAVA_HOME      a Java 17 home (default: the Debian openjdk-17 one)
set -euo pipefail

if [ "$(id -u)" = 0 ]; then
  default_dir=/var/cache/saqshy
else
  default_dir="${XDG_CACHE_HOME:-$HOME/.cache}/saqshy"
fi
services_dir="${SAQSHY_SERVICES_DIR:-$default_dir}"

pg_host=127.0.0.1
pg_port=5432
pg_user=saqshy
pg_password=saqshy
pg_database=saqshy_test

redis_port=6379
redis_dir="$services_dir/redis"

es_version="${SAQSHY_ES_VERSION:-8.19.7}"
es_port=9200
es_url="http://127.0.0.1:$es_port"
es_user="${SAQSHY_ES_USER:-saqshy-es}"
es_heap="${SAQSHY_ES_HEAP:-512m}"
es_wait="${SAQSHY_ES_WAIT_SECONDS:-180}"
es_home="$services_dir/elasticsearch-$es_version"
es_state="$services_dir/elasticsearch-state"
es_pidfile="$es_state/elasticsearch.pid"

log() { echo "services: $*" >&2; }
die() { echo "services: ERROR: $*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# Runs a command as another user (root only; otherwise as ourselves).
as_user() {
  local user="$1"; shift
  if is_root; then
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

# ------------------------------------------------------------------ PostgreSQL
# As root we use the Debian cluster (pg_ctlcluster, created by the postgresql package); as an
# ordinary user we run a private cluster under $services_dir with the same address and port.

pg_private_dir="$services_dir/postgres"
# 200, not PostgreSQL's 100: `benchmarks/queue.py --workers 2` runs two servers side by side, each of
# two processes, and the bare server holds a connection per worker thread (40 + 10 per process).
pg_server_options="-c max_connections=200"

pg_version() {
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  [ -n "$bin" ] || die "PostgreSQL is not installed (apt-get install postgresql)"
  basename "$(dirname "$bin")"
}

pg_ready() {
  local bin; bin="/usr/lib/postgresql/$(pg_version)/bin"
  "$bin/pg_isready" -q -h "$pg_host" -p "$pg_port" >/dev/null 2>&1
}

pg_psql_admin() {
  if is_root; then
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$pg_port" "$@"
  else
    psql -X -q -v ON_ERROR_STOP=1 -h "$pg_private_dir" -p "$pg_port" -U postgres "$@"
  fi
}

pg_start() {
  local ver bin
  ver="$(pg_version)"; bin="/usr/lib/postgresql/$ver/bin"
  if pg_ready; then
    log "postgres: already running on $pg_host:$pg_port"
  elif is_root; then
    if ! pg_lsclusters -h 2>/dev/null | awk -v v="$ver" '$1 == v && $2 == "main"' | grep -q .; then
      log "postgres: creating cluster $ver/main"
      pg_createcluster "$ver" main --port "$pg_port" >/dev/null
    fi
    log "postgres: starting cluster $ver/main"
    pg_ctlcluster "$ver" main start -- -o "$pg_server_options"
  else
    if [ ! -f "$pg_private_dir/PG_VERSION" ]; then
      log "postgres: initdb $pg_private_dir"
      mkdir -p "$pg_private_dir"
      "$bin/initdb" -D "$pg_private_dir" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    log "postgres: starting private cluster $pg_private_dir"
    "$bin/pg_ctl" -D "$pg_private_dir" -l "$pg_private_dir/server.log" -w \
      -o "-c listen_addresses=$pg_host -p $pg_port -k $pg_private_dir $pg_server_options" start >/dev/null
  fi
  for _ in $(seq 1 60); do pg_ready && break; sleep 0.5; done
  pg_ready || die "postgres did not become ready on $pg_host:$pg_port"
  # Role and database: created once, the password reset every time (a re-used machine may differ).
  pg_psql_admin -d postgres <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$pg_user') THEN
    CREATE ROLE $pg_user LOGIN PASSWORD '$pg_password' CREATEDB;
  ELSE
    ALTER ROLE $pg_user LOGIN PASSWORD '$pg_password' CREATEDB;
  END IF;
END \$\$;
SQL
  if [ -z "$(pg_psql_admin -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$pg_database'")" ]; then
    pg_psql_admin -d postgres -c "CREATE DATABASE $pg_database OWNER $pg_user ENCODING 'UTF8' TEMPLATE template0"
  fi
  log "postgres: ready (postgresql://$pg_user:***@$pg_host:$pg_port/$pg_database)"
}

pg_stop() {
  local ver; ver="$(pg_version)"
  if is_root; then
    if pg_lsclusters -h 2>/dev/null | awk -v v="$ver" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
      pg_ctlcluster "$ver" main stop -m fast
      log "postgres: stopped"
    else
      log "postgres: not running"
    fi
  elif [ -f "$pg_private_dir/postmaster.pid" ]; then
    "/usr/lib/postgresql/$ver/bin/pg_ctl" -D "$pg_private_dir" -m fast -w stop >/dev/null
    log "postgres: stopped"
  else
    log "postgres: not running"
  fi
}

pg_status() {
  if pg_ready; then echo "postgres: running ($pg_host:$pg_port)"; else echo "postgres: stopped"; return 1; fi
}

# ------------------------------------------------------------------ Redis

redis_ping() { redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG; }

redis_start() {
  if redis_ping; then log "redis: already running on 127.0.0.1:$redis_port"; return 0; fi
  command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server)"
  mkdir -p "$redis_dir"
  # No persistence: Redis only carries jobs, whose record is in SQL.
  redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --dir "$redis_dir" \
    --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log" --save "" --appendonly no
  for _ in $(seq 1 50); do redis_ping && break; sleep 0.1; done
  redis_ping || { tail -n 20 "$redis_dir/redis.log" >&2 || true; die "redis did not start"; }
  log "redis: ready (redis://127.0.0.1:$redis_port/0)"
}

redis_stop() {
  if redis_ping; then
    redis-cli -h 127.0.0.1 -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do redis_ping || break; sleep 0.1; done
    log "redis: stopped"
  else
    log "redis: not running"
  fi
}

redis_status() {
  if redis_ping; then echo "redis: running (127.0.0.1:$redis_port)"; else echo "redis: stopped"; return 1; fi
}

# ------------------------------------------------------------------ Elasticsearch

java17_home() {
  if [ -n "${SAQSHY_JAVA_HOME:-}" ]; then echo "$SAQSHY_JAVA_HOME"; return; fi
  local candidate
  for candidate in /usr/lib/jvm/java-17-openjdk-* /usr/lib/jvm/temurin-17-* /usr/lib/jvm/java-17-*; do
    if [ -x "$candidate/bin/java" ]; then echo "$candidate"; return; fi
  done
  die "no Java 17 found (apt-get install openjdk-17-jre-headless, or set SAQSHY_JAVA_HOME)"
}

# The integ-test-zip has no root ("GET /") handler, so health is the liveness probe.
es_http_ok() { curl -fsS -m 2 "$es_url/_cluster/health" >/dev/null 2>&1; }

es_pid() {
  local pid
  pid="$(cat "$es_pidfile" 2>/dev/null || true)"
  # A pid file left by a machine crash may name a process that is not Elasticsearch any more.
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && ps -o args= -p "$pid" 2>/dev/null | grep -q elasticsearch; then
    echo "$pid"
    return 0
  fi
  # The pid file can go missing (a state folder cleaned, a start by an earlier run): find our
  # Elasticsearch by its user and home instead, so stop never leaves one running.
  pgrep -u "$es_user" -f "org.elasticsearch.bootstrap.Elasticsearch|$es_home" 2>/dev/null | head -n 1 || true
}

es_install() {
  [ -x "$es_home/bin/elasticsearch" ] && return 0
  local m2="${MAVEN_REPO:-$HOME/.m2/repository}"
  local zip="$m2/org/elasticsearch/distribution/integ-test-zip/elasticsearch/$es_version/elasticsearch-$es_version.zip"
  if [ ! -f "$zip" ]; then
    log "elasticsearch: fetching $es_version from Maven Central"
    mvn -q -B dependency:get -Dmaven.repo.local="$m2" \
      -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$es_version:zip" -Dtransitive=false
  fi
  [ -f "$zip" ] || die "elasticsearch zip not found at $zip"
  log "elasticsearch: unpacking to $es_home"
  mkdir -p "$services_dir"
  local tmp; tmp="$(mktemp -d "$services_dir/.es-unpack.XXXXXX")"
  unzip -q "$zip" -d "$tmp"
  mv "$tmp/elasticsearch-$es_version" "$es_home"
  rmdir "$tmp"
}

es_ensure_user() {
  is_root || return 0
  if ! id "$es_user" >/dev/null 2>&1; then
    log "elasticsearch: creating system user $es_user"
    useradd --system --no-create-home --home-dir "$es_state" --shell /usr/sbin/nologin "$es_user"
  fi
}

es_start() {
  if [ -n "$(es_pid)" ] && es_http_ok; then log "elasticsearch: already running on $es_url"; return 0; fi
  if [ -z "$(es_pid)" ] && es_http_ok; then
    log "elasticsearch: something already answers on $es_url (not started by this script); using it"
    return 0
  fi
  es_install
  es_ensure_user
  mkdir -p "$es_state/data" "$es_state/logs" "$es_state/tmp"
  if is_root; then
    chmod 755 "$services_dir"
    # Elasticsearch writes its keystore into config/ on first start, so it owns its whole home.
    chown -R "$es_user:" "$es_home" "$es_state"
  fi
  local java_home; java_home="$(java17_home)"
  if [ -z "$(es_pid)" ]; then
    log "elasticsearch: starting $es_version (Java: $java_home, heap $es_heap)"
    rm -f "$es_pidfile"
    # -d detaches once the node has started; the settings keep it on loopback, single-node, with
    # no security (the integ-test-zip has no TLS certificates) and no disk watermarks (CI disks
    # are often nearly full, and a read-only index would fail tests for the wrong reason).
    (cd "$es_state" && as_user "$es_user" env \
      ES_JAVA_HOME="$java_home" \
      ES_JAVA_OPTS="-Xms$es_heap -Xmx$es_heap" ES_TMPDIR="$es_state/tmp" \
      "$es_home/bin/elasticsearch" -d -p "$es_pidfile" \
        -E discovery.type=single-node \
        -E network.host=127.0.0.1 \
        -E http.port="$es_port" \
        -E transport.port=9300-9399 \
        -E xpack.security.enabled=false \
        -E cluster.routing.allocation.disk.threshold_enabled=false \
        -E path.data="$es_state/data" \
        -E path.logs="$es_state/logs" \
        -E node.name=saqshy-ci \
        -E cluster.name=saqshy-ci \
      >"$es_state/logs/launcher.log" 2>&1) || {
        tail -n 40 "$es_state/logs/launcher.log" "$es_state/logs/saqshy-ci.log" >&2 2>/dev/null || true
        die "elasticsearch failed to launch"
      }
  fi
  local deadline=$((SECONDS + es_wait))
  until curl -fsS -m 5 "$es_url/_cluster/health?wait_for_status=yellow&timeout=2s" 2>/dev/null \
      | grep -q '"status":"\(yellow\|green\)"'; do
    if [ -z "$(es_pid)" ] || [ "$SECONDS" -ge "$deadline" ]; then
      log "elasticsearch log tail:"
      tail -n 40 "$es_state/logs/saqshy-ci.log" "$es_state/logs/launcher.log" >&2 2>/dev/null || true
      if [ -z "$(es_pid)" ]; then die "elasticsearch exited during start-up"; fi
      die "elasticsearch not healthy (yellow) after ${es_wait}s at $es_url"
    fi
    sleep 1
  done
  log "elasticsearch: ready ($es_url)"
}

es_stop() {
  local pid; pid="$(es_pid)"
  if [ -z "$pid" ]; then log "elasticsearch: not running"; rm -f "$es_pidfile"; return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then
    log "elasticsearch: still running after 30s, killing"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$es_pidfile"
  log "elasticsearch: stopped"
}

es_status() {
  if es_http_ok; then echo "elasticsearch: running ($es_url)"; else echo "elasticsearch: stopped"; return 1; fi
}

# ------------------------------------------------------------------ main

usage() { echo "usage: $0 start|stop|status postgres|redis|elasticsearch|all" >&2; exit 2; }

[ $# -ge 1 ] || usage
action="$1"; target="${2:-all}"
case "$action" in start|stop|status) ;; *) usage ;; esac
case "$target" in
  postgres|postgresql) targets=(pg) ;;
  redis) targets=(redis) ;;
  elasticsearch|es) targets=(es) ;;
  all) targets=(pg redis es) ;;
  *) usage ;;
esac
if [ "$action" = stop ] && [ "$target" = all ]; then targets=(es redis pg); fi

rc=0
for t in "${targets[@]}"; do
  "${t}_${action}" || rc=1
done
exit "$rc"

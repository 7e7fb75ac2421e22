#!/usr/bin/env bash
# The demo behind `make run` (which builds first): ably-token on a unix socket,
# nginx serving www/ and /request-token on http://localhost:$PORT/, and, when no
# Ably key is configured, the local Ably emulator with a TEST key so everything
# works offline. Runs in the foreground; Ctrl-C (or SIGTERM) stops everything.
#
# Settings come from the environment, then from .env (see .env.example):
#   ABLY_API_KEY / VITE_ABLY_KEY  your Ably key; empty = offline emulator
#   ABLY_TOKEN_CONF               config file to use instead of the generated one
#   PORT                          web port (default 3000)
#   ABLY_TOKEN_BIN                the binary (default build/ably-token)
# Runtime files (config, socket, logs) go to run/ (gitignored). The integration
# tests point DEMO_RUN_DIR and DEMO_ENV_FILE elsewhere so as not to touch yours.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
run=${DEMO_RUN_DIR:-$root/run}

say() { echo "run-demo: $*"; }
die() { echo "run-demo: $*" >&2; exit 1; }

# --- settings: environment first, then .env (never `source`d: it is data) ---
load_env_file() {
    local file=$1 line name value
    [ -f "$file" ] || return 0
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line%$'\r'}
        case "$line" in ''|'#'*) continue ;; esac
        line=${line#export }
        name=${line%%=*}
        [ "$name" != "$line" ] || continue
        name=${name//[[:space:]]/}
        value=${line#*=}
        value=${value#"${value%%[![:space:]]*}"}
        value=${value%"${value##*[![:space:]]}"}
        case "$value" in
            \"*\") value=${value:1:${#value}-2} ;;
            \'*\') value=${value:1:${#value}-2} ;;
        esac
        case "$name" in
            ABLY_API_KEY|VITE_ABLY_KEY|ABLY_TOKEN_CONF|PORT)
                if [ -z "${!name:-}" ]; then printf -v "$name" '%s' "$value"; fi ;;
        esac
    done < "$file"
}
load_env_file "${DEMO_ENV_FILE:-$root/.env}"

port=${PORT:-3000}
case "$port" in ''|*[!0-9]*) die "PORT must be a number: $port" ;; esac
bin=${ABLY_TOKEN_BIN:-$root/build/ably-token}
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
[ -x "$bin" ] || die "no binary at $bin; run 'make' first (or set ABLY_TOKEN_BIN)"
nginx_bin=$(command -v nginx || true)
[ -n "$nginx_bin" ] || { [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx; } || die "nginx not found; run scripts/install-deps.sh"

key=${ABLY_API_KEY:-${VITE_ABLY_KEY:-}}

mkdir -p "$run"
chmod 700 "$run"

# --- stop everything we started, by PID, whatever the way out ---
pids=()
names=()
stopping=0
stop_all() {
    [ "$stopping" -eq 0 ] || return 0
    stopping=1
    local i pid
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        pid=${pids[$i]}
        if kill -0 "$pid" 2>/dev/null; then
            say "stopping ${names[$i]} (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            say "pid $pid did not stop in 5 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    rm -f "$sock"
}
started() { pids+=("$1"); names+=("$2"); }
sock=""
trap 'stop_all' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A unix socket path must fit in sun_path (108 bytes).
sock="$run/ably-token.sock"
if [ ${#sock} -gt 100 ]; then
    sock="$(mktemp -d /tmp/ably-token-run.XXXXXX)/ably-token.sock"
fi
rm -f "$sock"

# --- the Ably side: real key, or the offline emulator with a test key ---
emulator_addr=""
if [ -z "$key" ]; then
    emu="$root/tests/ably-emulator/server.mjs"
    keys="$root/tests/ably-emulator/test-keys.json"
    [ -f "$emu" ] || die "no Ably key in .env and no emulator at $emu"
    command -v node >/dev/null 2>&1 || die "node is needed for the emulator; run scripts/install-deps.sh"
    key=$(node -e '
        const k = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        const main = k.main ?? (k.keys && (k.keys.main ?? k.keys[0])) ?? k[0];
        process.stdout.write(typeof main === "string" ? main : main.key);
    ' "$keys" 2>/dev/null) || key="TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000"
    : > "$run/emulator.log"
    node "$emu" --port 0 >> "$run/emulator.log" 2>&1 &
    started $! "Ably emulator"
    emu_port=""
    for _ in $(seq 100); do
        emu_port=$(sed -n 's/.*"event":"listening".*"port":\([0-9][0-9]*\).*/\1/p' "$run/emulator.log" | head -n1)
        [ -z "$emu_port" ] || break
        kill -0 "${pids[-1]}" 2>/dev/null || { cat "$run/emulator.log" >&2; die "the emulator exited"; }
        sleep 0.1
    done
    [ -n "$emu_port" ] || { cat "$run/emulator.log" >&2; die "the emulator did not report its port"; }
    emulator_addr="127.0.0.1:$emu_port"
    cat <<EOF

  ********************************************************************
  **  LOCAL TEST KEY / offline emulator: no Ably key in .env, so the
  **  demo uses the local Ably emulator on $emulator_addr with a
  **  TEST key. Nothing here talks to Ably.
  **  Put ABLY_API_KEY=appId.keyId:secret in .env to use real Ably.
  ********************************************************************

EOF
fi

# --- config for the binary ---
if [ -n "${ABLY_TOKEN_CONF:-}" ]; then
    conf=$ABLY_TOKEN_CONF
    [ -f "$conf" ] || die "ABLY_TOKEN_CONF=$conf: no such file"
    say "using config $conf"
else
    conf="$run/ably-token.conf"
    # The key goes to the binary through its environment, so this file holds
    # no secret; it is still private, like any config that could.
    (
        umask 077
        cat > "$conf" <<EOF
# Written by scripts/run-demo.sh; rewritten on every run.
# token mode, as Ably's own example: the binary fetches TokenDetails from
# Ably (or, offline, from the local emulator).
mode = token
# The demo's policy, not the built-in one (anonymous, subscribe on public:*
# only): one fixed clientId with everything the key allows, so the page can
# publish. The binary warns about it at start-up; a site must not do this.
client_id = example-client-id
capability = {"*":["*"]}
ttl = 1h
health_path = /healthz
log_level = info
EOF
        if [ -n "$emulator_addr" ]; then
            printf 'rest_host = %s\ntls = off\n' "$emulator_addr" >> "$conf"
        fi
    )
    chmod 600 "$conf"
fi

# --- the binary ---
ABLY_API_KEY="$key" VITE_ABLY_KEY="" ABLY_TOKEN_CONF="" \
    "$bin" --config "$conf" --listen "unix:$sock" --workers 2 &
started $! "ably-token"
for _ in $(seq 100); do
    [ -S "$sock" ] && break
    kill -0 "${pids[-1]}" 2>/dev/null || die "ably-token exited during start-up (its messages are above)"
    sleep 0.1
done
[ -S "$sock" ] || die "ably-token did not create $sock within 10 s"

# --- ably-js for the page: the browser build of the pinned npm package, copied
# into www/vendor/ (gitignored; never committed, never from a CDN). Copied again
# whenever it differs, so an upgrade of the package reaches the page. ---
vendor_src="$root/node_modules/ably/build/ably.min.js"
vendor_dst="$root/www/vendor/ably.min.js"
if [ -f "$vendor_src" ]; then
    if ! cmp -s "$vendor_src" "$vendor_dst"; then
        mkdir -p "$root/www/vendor"
        cp "$vendor_src" "$vendor_dst.tmp.$$"
        mv "$vendor_dst.tmp.$$" "$vendor_dst"
    fi
else
    say "warning: $vendor_src is missing (run npm ci); the page cannot connect without ably-js"
fi

# --- nginx, rendered from nginx.conf.example ---
render_args=(--prefix "$run/nginx" --port "$port" --socket "$sock" --www "$root/www" --listen 127.0.0.1)
# Browsers may resolve localhost to ::1 first.
if grep -qs ' lo$' /proc/net/if_inet6; then render_args+=(--listen '[::1]'); fi
[ -z "$emulator_addr" ] || render_args+=(--emulator "$emulator_addr")
nginx_conf=$("$here/render-nginx-conf.sh" "${render_args[@]}")
"$nginx_bin" -p "$run/nginx" -c "$nginx_conf" &
started $! "nginx"
up=0
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
    kill -0 "${pids[-1]}" 2>/dev/null || { tail -n 20 "$run/nginx/logs/error.log" >&2 || true; die "nginx exited (port $port in use? try PORT=...)"; }
    sleep 0.1
done
[ "$up" -eq 1 ] || die "nginx is not answering on port $port"

say "ready: http://localhost:$port/   (token endpoint: http://localhost:$port/request-token)"
say "logs: ably-token below; nginx in $run/nginx/logs/${emulator_addr:+; emulator in $run/emulator.log}"
say "Ctrl-C to stop"

# Run until Ctrl-C/SIGTERM, or until one of the three exits on its own.
set +e
wait -n "${pids[@]}"
rc=$?
set -e
if [ "$stopping" -eq 0 ]; then
    say "a process exited on its own (status $rc); stopping the rest"
    exit 1
fi

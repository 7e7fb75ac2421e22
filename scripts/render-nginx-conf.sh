#!/usr/bin/env bash
# Turn nginx.conf.example into a runnable nginx config for a scratch directory.
#
#   scripts/render-nginx-conf.sh --prefix DIR --port N --socket /abs/path.sock \
#       [--www DIR] [--listen ADDR] [--example FILE] [--emulator HOST:PORT]
#
# Writes DIR/nginx.conf (and creates DIR/logs, DIR/tmp) and prints its path.
# Start nginx with:  nginx -p DIR -c DIR/nginx.conf    (the config says daemon off)
#
# What changes from the example, and nothing else:
#   user        -> the current user (only when run as root; otherwise dropped)
#   pid, error_log, access_log, *_temp_path -> under DIR
#   daemon off  -> added, so nginx stays in the foreground and can be stopped by PID
#   include /etc/nginx/mime.types -> kept (a minimal types block if absent)
#   listen      -> ADDR:PORT for each --listen (default 127.0.0.1)
#   server_name -> localhost
#   root        -> --www (default: www/ of this repo)
#   the socket path /run/ably-token/ably-token.sock -> --socket
# --emulator adds demo-only locations (scripts/run-demo.sh) that proxy the Ably
# REST paths and the realtime WebSocket (an Upgrade request for /) to the local
# emulator, so the page can use it from the same origin.
# Every rewrite must hit, or the script fails: the example and this script
# must not drift apart silently.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

prefix="" port="" socket="" www="$root/www" example="$root/nginx.conf.example" emulator=""
listens=()

die() { echo "render-nginx-conf: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix)   prefix=${2:?}; shift 2 ;;
        --port)     port=${2:?}; shift 2 ;;
        --socket)   socket=${2:?}; shift 2 ;;
        --www)      www=${2:?}; shift 2 ;;
        --listen)   listens+=("${2:?}"); shift 2 ;;
        --example)  example=${2:?}; shift 2 ;;
        --emulator) emulator=${2:?}; shift 2 ;;
        -h|--help)  sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done

[ -n "$prefix" ] || die "--prefix is required"
[ -n "$port" ] || die "--port is required"
[ -n "$socket" ] || die "--socket is required"
case "$port" in ''|*[!0-9]*) die "--port must be a number: $port" ;; esac
case "$socket" in /*) ;; *) die "--socket must be an absolute path: $socket" ;; esac
case "$emulator" in ''|*:[0-9]*) ;; *) die "--emulator must be HOST:PORT: $emulator" ;; esac
[ -f "$example" ] || die "no such file: $example"
[ -d "$www" ] || die "no such directory: $www"
[ ${#listens[@]} -gt 0 ] || listens=(127.0.0.1)

mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
www=$(cd "$www" && pwd)
mkdir -p "$prefix/logs" "$prefix/tmp"

# nginx drops privileges to `user` only when started as root. Keep the current
# user then (root in CI containers: the scratch dir is not readable by others);
# otherwise the directive is ignored with a warning, so leave it out.
if [ "$(id -u)" -eq 0 ]; then
    user_line="user $(id -un) $(id -gn);"
else
    user_line="# user: not root, nginx runs as $(id -un)"
fi

if [ -f /etc/nginx/mime.types ]; then
    mime_line="include /etc/nginx/mime.types;"
else
    mime_line="types { text/html html; text/css css; application/javascript js mjs; application/json json; image/svg+xml svg; image/png png; }"
fi

listen_lines=""
for l in "${listens[@]}"; do
    listen_lines+="        listen $l:$port;"$'\n'
done

emulator_block=""
if [ -n "$emulator" ]; then
    emulator_block=$(cat <<EOF
        # --- demo only (scripts/run-demo.sh --emulator): the local Ably
        # emulator's REST paths behind the same origin, and a note telling the
        # page to use them. Not part of nginx.conf.example. ---
        location = /demo-config.json {
            default_type application/json;
            add_header Cache-Control "no-store" always;
            return 200 '{"emulator":true}';
        }
        location ^~ /keys/     { proxy_pass http://$emulator; }
        location ^~ /channels/ { proxy_pass http://$emulator; }
        location = /time       { proxy_pass http://$emulator; }
        # ably-js opens its realtime WebSocket at ws://host:port/?access_token=...:
        # an Upgrade request for / goes to the emulator, anything else for / is
        # the page (the index module, then location / as usual).
        location = / {
            error_page 418 = @ably_realtime;
            if (\$http_upgrade ~* "^websocket\$") { return 418; }
        }
        location @ably_realtime {
            proxy_pass http://$emulator;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host \$host;
            proxy_buffering off;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }
EOF
)
    emulator_block+=$'\n'
fi

temp_lines=""
for t in client_body fastcgi proxy scgi uwsgi; do
    temp_lines+="    ${t}_temp_path $prefix/tmp/$t;"$'\n'
done

out="$prefix/nginx.conf"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT

# Each rule counts its hits; END checks every rule fired the expected number of times.
awk -v user_line="$user_line" -v prefix="$prefix" -v mime_line="$mime_line" \
    -v listen_lines="$listen_lines" -v www="$www" -v socket="$socket" \
    -v temp_lines="$temp_lines" -v emulator_block="$emulator_block" \
    -v example="$example" '
    BEGIN {
        print "# Rendered from " example " by scripts/render-nginx-conf.sh. Do not edit."
        print "# Run: nginx -p " prefix " -c " prefix "/nginx.conf"
        print ""
    }
    /^user[ \t]/                  { hit["user"]++; print user_line; next }
    /^pid[ \t]/                   { hit["pid"]++; print "pid " prefix "/nginx.pid;"; print "daemon off;"; next }
    /^error_log[ \t]/             { hit["error_log"]++; print "error_log " prefix "/logs/error.log warn;"; next }
    /^http[ \t]*\{/               { hit["http"]++; print; printf "%s", temp_lines; next }
    /^[ \t]*include[ \t]+\/etc\/nginx\/mime\.types;/ { hit["mime"]++; print "    " mime_line; next }
    /^[ \t]*access_log[ \t]+\//   { hit["access_log"]++; print "    access_log " prefix "/logs/access.log;"; next }
    /^[ \t]*listen[ \t]/          { if (!hit["listen"]++) printf "%s", listen_lines; next }
    /^[ \t]*server_name[ \t]/     { hit["server_name"]++; print "        server_name localhost;"; printf "%s", emulator_block; next }
    /^[ \t]*root[ \t]/            { hit["root"]++; print "        root " www ";"; next }
    /unix:\/run\/ably-token\/ably-token\.sock;/ {
        hit["socket"]++; sub(/unix:\/run\/ably-token\/ably-token\.sock;/, "unix:" socket ";"); print; next
    }
    { print }
    END {
        split("user pid error_log http mime access_log listen server_name root socket", need, " ")
        bad = 0
        for (i in need) {
            if (!(need[i] in hit)) { print "render-nginx-conf: no line for \"" need[i] "\" in " example > "/dev/stderr"; bad = 1 }
            else if (need[i] != "listen" && need[i] != "socket" && hit[need[i]] != 1) {
                print "render-nginx-conf: " hit[need[i]] " lines for \"" need[i] "\" in " example " (expected 1)" > "/dev/stderr"; bad = 1
            }
        }
        if (hit["socket"] < 1) bad = 1
        exit bad
    }
' "$example" > "$tmp" || die "could not render $example (see above)"

mv "$tmp" "$out"
trap - EXIT
echo "$out"

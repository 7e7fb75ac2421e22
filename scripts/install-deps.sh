#!/usr/bin/env bash
# Install what building, testing and running ably-token needs, and nothing that
# is already there. Safe to run again and again (`make test` and `make run` do).
#
#   scripts/install-deps.sh            Debian packages that are missing, then npm ci if needed
#   scripts/install-deps.sh --check    only report what is missing; exit 1 if anything is
#   scripts/install-deps.sh --build [nginx|apache]
#                                      only what building, installing and running need (a
#                                      production host: no test tools), plus the web server
#   scripts/install-deps.sh --build --list   print those packages, one per line
#
# Debian 12. Runs apt-get through sudo only when not root. apt-get update runs at
# most once, and only when something has to be installed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

check_only=0 build_only=0 list_only=0 web_server=""
while [ $# -gt 0 ]; do
    case "$1" in
        --check) check_only=1 ;;
        --build) build_only=1 ;;
        --list) list_only=1 ;;
        nginx|apache) web_server=$1 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-deps: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$build_only" -eq 0 ] && { [ "$list_only" -eq 1 ] || [ -n "$web_server" ]; }; then
    echo "install-deps: --list, nginx and apache go with --build" >&2; exit 2
fi

say() { echo "install-deps: $*"; }

# What `make` and `make install` need (the libraries' runtime packages come
# with their -dev packages); node and npm fetch ably-js for the page.
build_packages=(build-essential pkg-config libfcgi-dev libcurl4-openssl-dev libjson-c-dev
                libssl-dev)
# What the tests add: unit tests, valgrind, the benchmark, the browser, the
# other hosting set-ups and systemd's tools.
test_packages=(libcmocka-dev valgrind wrk chromium chromium-driver
               apache2 libapache2-mod-fcgid systemd
               # tests/integration/metrics.test.mjs: a private Prometheus
               # (started by the test on its own port; a service the package
               # may start is never used) and the text format's parser from
               # the Python client.
               prometheus python3-prometheus-client)
if [ "$build_only" -eq 1 ]; then
    packages=("${build_packages[@]}")
    [ "$web_server" = apache ] && packages+=(apache2 libapache2-mod-fcgid)
else
    packages=("${build_packages[@]}" "${test_packages[@]}")
fi
if [ "$list_only" -eq 1 ]; then
    printf '%s\n' "${packages[@]}" nodejs npm
    [ "$web_server" = nginx ] && echo nginx
    exit 0
fi

installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]
}

missing=()
for p in "${packages[@]}"; do
    installed "$p" || missing+=("$p")
done

# Any nginx flavour will do; only install nginx-light when none is there, since
# the flavours conflict with each other. (--build: only when asked for.)
if { [ "$build_only" -eq 0 ] || [ "$web_server" = nginx ]; } && ! command -v nginx >/dev/null 2>&1 && ! [ -x /usr/sbin/nginx ]; then
    have_nginx=0
    for p in nginx-light nginx-core nginx-full nginx-extras nginx; do
        if installed "$p"; then have_nginx=1; break; fi
    done
    if [ "$have_nginx" -eq 0 ]; then
        if [ "$build_only" -eq 1 ]; then missing+=(nginx); else missing+=(nginx-light); fi
    fi
fi

# Node may come from elsewhere (NodeSource, nvm); Debian's only if there is none.
if ! command -v node >/dev/null 2>&1; then
    missing+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
    say "warning: node is installed but npm is not; install npm the way node was installed"
fi

if [ ${#missing[@]} -eq 0 ]; then
    say "Debian packages: all present"
elif [ "$check_only" -eq 1 ]; then
    say "missing Debian packages: ${missing[*]}"
else
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { say "not root and no sudo: install ${missing[*]} as root" >&2; exit 1; }
        sudo=(sudo)
    fi
    say "installing: ${missing[*]}"
    say "running apt-get update"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    say "installed: ${missing[*]}"
fi

if command -v node >/dev/null 2>&1; then
    major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    if [ "$major" -lt 20 ]; then
        say "warning: node $(node --version) is older than 20 (package.json engines); the tests may not run"
    fi
fi

# npm packages (ably-js for the emulator and the integration tests).
cd "$root"
npm_needed=0
if [ ! -d node_modules ]; then
    npm_needed=1; why="node_modules is missing"
else
    # npm keeps its own record of what it installed; compare against it when present.
    stamp=node_modules/.package-lock.json
    [ -f "$stamp" ] || stamp=node_modules
    if [ package-lock.json -nt "$stamp" ]; then
        npm_needed=1; why="package-lock.json is newer than node_modules"
    fi
    # A --build install left the test packages (devDependencies) out.
    if [ "$npm_needed" -eq 0 ] && [ "$build_only" -eq 0 ] && command -v node >/dev/null 2>&1; then
        for p in $(node -p 'Object.keys(require("./package.json").devDependencies || {}).join(" ")'); do
            if [ ! -d "node_modules/$p" ]; then
                npm_needed=1; why="the test package $p is missing (node_modules came from --build)"
                break
            fi
        done
    fi
fi

if [ "$npm_needed" -eq 0 ]; then
    say "npm packages: up to date"
elif [ "$check_only" -eq 1 ]; then
    say "npm ci needed: $why"
    missing+=(npm-packages)
elif ! command -v npm >/dev/null 2>&1; then
    say "npm ci needed ($why) but npm is not installed" >&2
    exit 1
else
    say "running npm ci ($why)"
    if [ "$build_only" -eq 1 ]; then
        # Only what the page needs (ably-js); the test packages are
        # devDependencies.
        npm ci --omit=dev --no-audit --no-fund
    else
        npm ci --no-audit --no-fund
    fi
fi

if [ "$check_only" -eq 1 ] && [ ${#missing[@]} -gt 0 ]; then
    exit 1
fi
exit 0

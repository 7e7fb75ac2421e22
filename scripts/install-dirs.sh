#!/bin/sh
# The directories `make install` creates, recorded so that `make uninstall`
# removes exactly those again (and never one that was there before, such as
# /usr/local/bin on Debian).
#
#   scripts/install-dirs.sh create LIST DIR...   make each missing DIR (and its
#                                                missing parents), mode 0755, and
#                                                add each one made to LIST
#   scripts/install-dirs.sh remove LIST OURS     rm -rf OURS (the directory that is
#                                                ours alone), then rmdir every
#                                                directory LIST names, deepest first
#
# Paths are the installed ones; $DESTDIR goes in front of each, and LIST
# records them without it, so a staged package lists the system's paths.
# A directory in LIST that is not empty at uninstall (something else was put
# there since) is kept, and said so.
set -euf

die() { echo "install-dirs: $*" >&2; exit 2; }
dest=${DESTDIR:-}

case "${1:-}" in
create)
    [ $# -ge 3 ] || die "usage: create LIST DIR..."
    list=$2; shift 2
    made=""
    # A staging directory is not part of the install.
    [ -z "$dest" ] || mkdir -p "$dest"
    for dir in "$@"; do
        case "$dir" in /*) ;; *) die "not an absolute path: $dir" ;; esac
        path=""
        # Walk down from /, making what is missing.
        for part in $(echo "$dir" | tr '/' ' '); do
            path="$path/$part"
            if [ ! -d "$dest$path" ]; then
                mkdir -m 0755 "$dest$path"
                made="$made$path
"
            fi
        done
    done
    [ -d "$dest$(dirname "$list")" ] || die "LIST's directory is not among the DIRs: $list"
    # A second install keeps what the first one made.
    { [ -f "$dest$list" ] && cat "$dest$list"; printf '%s' "$made"; } | sed '/^$/d' | sort -u >"$dest$list.tmp"
    mv "$dest$list.tmp" "$dest$list"
    chmod 0644 "$dest$list"
    ;;
remove)
    [ $# -eq 3 ] || die "usage: remove LIST OURS"
    list=$2 ours=$3
    dirs=""
    [ -f "$dest$list" ] && dirs=$(sort -r "$dest$list")
    rm -rf "$dest$ours"
    # sort -r puts /a/b before /a.
    echo "$dirs" | while IFS= read -r dir; do
        [ -n "$dir" ] && [ -d "$dest$dir" ] || continue
        if ! rmdir "$dest$dir" 2>/dev/null; then
            echo "install-dirs: kept $dest$dir: not empty (something else put files there)" >&2
        fi
    done
    ;;
*)
    die "usage: install-dirs.sh create LIST DIR... | remove LIST OURS"
    ;;
esac

#!/usr/bin/env bash
# Builds the real servers the tests start (FerretDB, etcd, kube-apiserver, and the single-node
# cluster's kubelet, kube-proxy, kube-controller-manager, kube-scheduler and CoreDNS) from the Go
# modules next to this script, as listed in versions.txt, each into
#   ${DWT_SERVERS_DIR:-$HOME/.cache/dwt/servers}/<name>-<version>-<key>/<binary>
# where <key> hashes the server's versions.txt line and its folder's go.mod, go.sum and
# build.flags. A binary already there is not rebuilt; Go's own caches ($(go env GOCACHE),
# $(go env GOMODCACHE)) stay warm for the next change. tests/servers/paths.py computes the same
# paths (tests/unit/test_real_servers.py checks that they agree).
#
#   tools/servers/build.sh [NAME...]                 build (all by default), one line per binary
#   tools/servers/build.sh --print-paths [NAME...]   print "BINARY PATH" without building
#
# Needs Go >= 1.26 (GO=/path/to/go to choose one) and the module proxy or a warm module cache.
# Cold on 2 cores: kube-apiserver ~8 CPU-minutes (~7.5 min wall, ~2.5 GB of build cache, 2.3 GB
# of memory), FerretDB ~1.8 and etcd ~0.9 CPU-minutes.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${DWT_SERVERS_DIR:-$HOME/.cache/dwt/servers}
mode=build
if [[ ${1:-} == --print-paths ]]; then
    mode=print
    shift
fi

# name version module package binary, from versions.txt (comments and blank lines skipped).
manifest() {
    grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$here/versions.txt"
}

# The cache key: the manifest line with single spaces, then go.mod, go.sum, build.flags.
cache_key() {
    local name=$1 version=$2 module=$3 package=$4 binary=$5 dir=$here/$1
    {
        printf '%s %s %s %s %s\n' "$name" "$version" "$module" "$package" "$binary"
        cat "$dir/go.mod" "$dir/go.sum"
        if [[ -f $dir/build.flags ]]; then cat "$dir/build.flags"; fi
    } | sha256sum | cut -c1-16
}

find_go() {
    local go=${GO:-}
    if [[ -z $go ]]; then
        go=$(command -v go || true)
        [[ -n $go ]] || { [[ -x /usr/local/go/bin/go ]] && go=/usr/local/go/bin/go; }
    fi
    if [[ -z $go || ! -x $go ]]; then
        echo "build.sh: Go is not installed${go:+ at $go} (need Go >= 1.26; set GO=/path/to/go)" >&2
        exit 1
    fi
    echo "$go"
}

now() { date +%s.%N; }

# Whether every binary of a comma-separated list is in the folder.
all_built() {
    local dir=$1 b
    local -a binaries
    IFS=, read -r -a binaries <<<"$2"
    for b in "${binaries[@]}"; do [[ -x $dir/$b ]] || return 1; done
}

tmpdirs=()
cleanup() { if ((${#tmpdirs[@]})); then rm -rf "${tmpdirs[@]}"; fi; }
trap cleanup EXIT

build_one() {
    local name=$1 version=$2 module=$3 package=$4 binary=$5 dest=$6
    local dir=$here/$name go ldflags="" tags="" version_txt="" key value
    local -a env=()
    go=$(find_go)
    if [[ -f $dir/build.flags ]]; then
        while IFS= read -r line || [[ -n $line ]]; do
            [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
            key=${line%%=*}
            value=${line#*=}
            case $key in
                LDFLAGS) ldflags=$value ;;
                TAGS) tags=$value ;;
                VERSION_TXT) version_txt=$value ;;
                *) env+=("$key=$value") ;;
            esac
        done <"$dir/build.flags"
    fi

    mkdir -p "$out"
    local tmp
    tmp=$(mktemp -d "$out/.build-$name.XXXXXX")
    tmpdirs+=("$tmp")

    # One binary, or several from one `go build` (comma-separated packages and binaries: they
    # compile their shared packages once and link in parallel).
    local -a packages binaries
    IFS=, read -r -a packages <<<"$package"
    IFS=, read -r -a binaries <<<"$binary"
    mkdir -p "$tmp/out"
    local output=$tmp/out/
    ((${#packages[@]} > 1)) || output=$tmp/out/$binary
    local -a args=(build -trimpath -buildvcs=false -mod=readonly -ldflags "$ldflags" -o "$output")
    [[ -z $tags ]] || args+=(-tags "$tags")
    if [[ -n $version_txt ]]; then
        # Build from a copy of the module with its version file written (see build.flags).
        local src
        src=$(cd "$dir" && "$go" mod download -json "$module@$version" |
            sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
        [[ -d $src ]] || { echo "build.sh: cannot find $module@$version's source" >&2; exit 1; }
        mkdir -p "$tmp/mod"
        cp -R "$src" "$tmp/src"
        chmod -R u+w "$tmp/src"
        printf '%s\n' "$version" >"$tmp/src/$version_txt"
        cp "$dir/go.mod" "$dir/go.sum" "$tmp/mod/"
        printf '\nreplace %s => %s\n' "$module" "$tmp/src" >>"$tmp/mod/go.mod"
        args+=(-modfile "$tmp/mod/go.mod")
    fi
    (cd "$dir" && env "${env[@]}" nice -n "${DWT_BUILD_NICE:-10}" "$go" "${args[@]}" "${packages[@]}")
    local b
    for b in "${binaries[@]}"; do
        [[ -x $tmp/out/$b ]] || { echo "build.sh: $name: go build made no $b" >&2; exit 1; }
    done
    # Another build may have finished first: keep whichever got there.
    mv -T "$tmp/out" "$dest" 2>/dev/null || all_built "$dest" "$binary"
}

main() {
    local -a only=("$@")
    local name version module package binary key dest found=0 start status
    while read -r name version module package binary; do
        if ((${#only[@]})) && [[ " ${only[*]} " != *" $name "* ]]; then continue; fi
        found=$((found + 1))
        key=$(cache_key "$name" "$version" "$module" "$package" "$binary")
        dest=$out/$name-$version-$key
        if [[ $mode == print ]]; then
            local b
            local -a binaries
            IFS=, read -r -a binaries <<<"$binary"
            for b in "${binaries[@]}"; do echo "$b $dest/$b"; done
            continue
        fi
        start=$(now)
        if all_built "$dest" "$binary"; then
            status=cached
        else
            echo "$name $version: building $package (this can take minutes) ..." >&2
            build_one "$name" "$version" "$module" "$package" "$binary" "$dest"
            status=built
        fi
        awk -v n="$name" -v s="$status" -v p="$dest/${binary//,/,$dest/}" -v t0="$start" -v t1="$(now)" \
            'BEGIN { printf "%-15s %-6s %s (%.1fs)\n", n, s, p, t1 - t0 }'
    done < <(manifest)
    if ((${#only[@]})) && ((found != ${#only[@]})); then
        echo "build.sh: unknown server in: ${only[*]} (see $here/versions.txt)" >&2
        exit 2
    fi
}

main "$@"

#!/bin/bash
# Sourced by docker/test.sh and packaging/test.sh: the container engine (docker where `docker info`
# succeeds, podman with the flags of shared/containers.md otherwise) and the base image
# docker.io/library/debian:bookworm-slim, which, where nothing can be pulled, is made by
# debootstrap and cached as a tarball in $SOCKS5D_CI_CACHE (default /var/cache/socks5d-ci).
# Expects `repo` (the checkout) to be set.

readonly base_image=docker.io/library/debian:bookworm-slim
readonly cache_dir=${SOCKS5D_CI_CACHE:-/var/cache/socks5d-ci}
readonly base_tarball=$cache_dir/debian-bookworm-slim-rootfs.tar

# Sets `engine`, `build_flags` and `run_flags`; false (with a message) without an engine.
choose_engine() {
  if docker info >/dev/null 2>&1; then
    engine=(docker)
    build_flags=()
    run_flags=()
  else
    if ! command -v podman >/dev/null; then
      echo "neither a Docker engine nor podman (apt-get install $(tr '\n' ' ' <"$repo/.ci/apt/docker.txt"))" >&2
      return 1
    fi
    engine=(podman)
    # chroot isolation: OCI isolation fails on these kernels' hybrid cgroups. --format docker: the OCI
    # image format has no HEALTHCHECK, podman would drop it.
    build_flags=(--isolation=chroot --pull=never --format=docker)
    # runc (crun fails here), and rlimits no higher than the machine's own (podman's defaults are
    # higher and are refused).
    nofile=$(ulimit -Hn)
    nproc=$(ulimit -Hu)
    [[ $nofile == unlimited || $nofile -gt 16384 ]] && nofile=16384
    [[ $nproc == unlimited || $nproc -gt 4096 ]] && nproc=4096
    run_flags=(--runtime /usr/sbin/runc --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
  fi
  echo "engine: ${engine[*]}"
}

# What debian:bookworm-slim is: debootstrap minbase, made slim the way the official image is
# (debuerreotype's slimify: no docs, man pages or locales, and dpkg told not to install them).
make_base_tarball() {
  local rootfs=$workdir/rootfs mirror
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  if [[ -z $mirror ]]; then
    echo "no apt mirror in /etc/apt/sources.list.d/debian.sources" >&2
    return 1
  fi
  echo "debootstrap bookworm from $mirror (once; cached in $base_tarball)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$workdir/debootstrap.log" 2>&1 || {
    tail -n 20 "$workdir/debootstrap.log" >&2
    return 1
  }
  cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
  cp /etc/apt/apt.conf.d/99artifact-registry "$rootfs/etc/apt/apt.conf.d/" 2>/dev/null || true
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{man,groff,info,locale,lintian,linda}/*
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/*
  rm -rf "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/var/tmp/*
  mkdir -p "$cache_dir"
  tar --numeric-owner -C "$rootfs" -cf "$base_tarball.tmp" . && mv "$base_tarball.tmp" "$base_tarball"
  local status=$?
  rm -rf "$rootfs"
  return $status
}

# Makes sure $base_image exists (pulled, or imported from the cached debootstrap tarball, made
# once); false when it could not. Needs `engine` (choose_engine) and a scratch $workdir.
ensure_base_image() {
  if "${engine[@]}" image inspect "$base_image" >/dev/null 2>&1; then
    echo "base image $base_image present"
  elif [[ ${engine[0]} == docker ]]; then
    "${engine[@]}" pull "$base_image" || true
  else
    if [[ ! -s $base_tarball ]]; then
      make_base_tarball || true
    fi
    if [[ -s $base_tarball ]]; then
      "${engine[@]}" import "$base_tarball" "$base_image" >/dev/null || true
    fi
  fi
  "${engine[@]}" image inspect "$base_image" >/dev/null 2>&1
}


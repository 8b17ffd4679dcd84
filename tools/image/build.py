#!/usr/bin/env python3
"""Build the product's OCI image from Debian packages and PyPI: no Docker engine, no registry.

    python tools/image/build.py                 # the product image (`make image`)
    python tools/image/build.py --print-ref     # its reference, without building
    python tools/image/build.py binary --name localhost/pause --tag 3.10 \\
        --file /path/pause:/pause --entrypoint /pause --user 65535:65535   # a one-binary image

The product image has two layers, each cached under ``${DWT_IMAGE_CACHE:-~/.cache/dwt/image}``
by a hash of exactly what goes into it, so a rebuild with unchanged inputs takes seconds and a
source change only rebuilds the small second layer:

1. *base*: Debian (``mmdebstrap --variant=minbase`` of the suite, mirrors and packages in
   image.toml, every package pinned to the version in debian.lock), the user, and a venv with
   the project's dependencies installed by the image's own Python in a chroot with
   ``requirements/constraints.txt``. Key: image.toml, debian.lock, the constraints, the
   dependency list of pyproject.toml and the source of the functions that build it.
2. *project*: the project's wheel (built from the work tree) installed into that venv with
   ``--no-deps`` on an overlay, so the layer holds only what the install wrote. Key: the base's
   key, the source of the functions that build this layer, and the bytes of every file the
   wheel is built from.

The tag is ``<version>-<first 12 hex of the project key>``; the result is an OCI archive
(``oci-archive``: a tar of an OCI layout) at ``images/<tag>.tar`` in the cache, which
``ctr images import`` and ``skopeo``/``podman load`` read. Timestamps are the fixed
``source_date_epoch`` of image.toml and tars are written in name order, so equal inputs give
equal layers. Needs root (mmdebstrap, chroot, mounts), mmdebstrap and umoci (`make image`
installs them from Debian), and the network for Debian's mirrors and PyPI.

When Debian no longer serves a version named in debian.lock (the archive keeps only the
latest of each suite), the build says which packages moved, installs the current ones and
rewrites debian.lock (commit it); a missing lock is written the same way.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import inspect
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SPEC_FILE = HERE / "image.toml"
LOCK_FILE = HERE / "debian.lock"
CONSTRAINTS = REPO / "requirements" / "constraints.txt"
PROJECT_INPUTS = ("pyproject.toml", "README.md", "services", "operator", "dashboard")
KEEP = 3  # cached entries of each kind kept (the newest); older ones are removed


class BuildError(RuntimeError):
    """The image cannot be built; the message says why and what to do."""


def log(message: str) -> None:
    print(f"image: {message}", file=sys.stderr, flush=True)


def spec() -> dict:
    with SPEC_FILE.open("rb") as f:
        return tomllib.load(f)


def cache_dir() -> Path:
    value = os.environ.get("DWT_IMAGE_CACHE")
    return Path(value) if value else Path.home() / ".cache" / "dwt" / "image"


# --- what goes in, and its hashes --------------------------------------------------------------


def dependencies() -> list[str]:
    """The project's runtime requirements (pyproject's [project].dependencies)."""
    with (REPO / "pyproject.toml").open("rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def project_files() -> list[Path]:
    """The files the wheel is built from: what git tracks or would track under PROJECT_INPUTS
    (so caches and editors' files never change the hash), sorted."""
    try:
        out = subprocess.run(
            [
                "git",
                "-C",
                str(REPO),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
                "--",
                *PROJECT_INPUTS,
            ],
            check=True,
            capture_output=True,
        ).stdout
        names = {n for n in out.decode().split("\0") if n}
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: walk the folders
        names = set()
        for top in PROJECT_INPUTS:
            path = REPO / top
            files = [path] if path.is_file() else path.rglob("*")
            names |= {
                str(p.relative_to(REPO))
                for p in files
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
            }
    return sorted(REPO / n for n in names if (REPO / n).is_file())


def _digest(parts: Iterable[tuple[str, bytes]]) -> str:
    h = hashlib.sha256()
    for name, data in parts:
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def base_key() -> str:
    lock = LOCK_FILE.read_bytes() if LOCK_FILE.exists() else b""
    return _digest(
        [
            ("image.toml", SPEC_FILE.read_bytes()),
            ("debian.lock", lock),
            ("constraints.txt", CONSTRAINTS.read_bytes()),
            ("dependencies", "\n".join(dependencies()).encode()),
            ("recipe", base_recipe().encode()),
        ]
    )


def base_recipe() -> str:
    """The source of the code that builds the base (a change to it rebuilds the base; a
    change elsewhere in this file does not)."""
    return source_of(
        debian_rootfs,
        install_dependencies,
        chroot_script,
        pip_env,
        deterministic_tar,
        oci_layout,
        image_config,
        build_base,
    )


def source_of(*functions) -> str:
    """The functions' syntax trees (not their text: reformatting changes no key)."""
    return "".join(ast.dump(ast.parse(inspect.getsource(f))) for f in functions)


def project_key(base: str) -> str:
    recipe = source_of(project_layer, build_wheel, build_image, name_image, archive)
    return _digest(
        [("base", base.encode()), ("recipe", recipe.encode())]
        + [(str(p.relative_to(REPO)), p.read_bytes()) for p in project_files()]
    )


def reference() -> tuple[str, str]:
    """(repository, tag) of the product image for the current inputs."""
    s = spec()
    return s["repository"], f"{s['version']}-{project_key(base_key())[:12]}"


# --- helpers -------------------------------------------------------------------------------------


def run(argv: list[str | Path], **kwargs) -> subprocess.CompletedProcess:
    argv = [str(a) for a in argv]
    try:
        return subprocess.run(argv, check=True, **kwargs)
    except FileNotFoundError as e:
        raise BuildError(
            f"{argv[0]} is not installed (`make image` installs mmdebstrap and "
            f"umoci from Debian when run as root)"
        ) from e
    except subprocess.CalledProcessError as e:
        raise BuildError(
            f"{shlex.join(argv[:6])}{' ...' if len(argv) > 6 else ''} failed "
            f"with status {e.returncode}"
        ) from e


def deterministic_tar(src: Path, out: Path, epoch: int) -> None:
    """A tar of ``src``'s contents: names sorted, owners numeric, times clamped to ``epoch``."""
    run(
        [
            "tar",
            "--create",
            "--file",
            out,
            "--directory",
            src,
            "--sort=name",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=security.capability",
            f"--mtime=@{epoch}",
            "--clamp-mtime",
            "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
            ".",
        ]
    )


@contextlib.contextmanager
def scratch(parent: Path, prefix: str) -> Iterator[Path]:
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def publish(tmp: Path, dest: Path) -> None:
    """Move a finished ``tmp`` to ``dest`` (another build may have got there first: keep it)."""
    try:
        tmp.rename(dest)
    except OSError:
        if not dest.exists():
            raise


def prune(folder: Path, keep: int = KEEP) -> None:
    """Remove all but the ``keep`` newest entries of a cache folder (never a temporary one)."""
    entries = sorted(
        (p for p in folder.iterdir() if not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in entries[keep:]:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


def oci_layout(layout: Path, tag: str, layers: list[Path], config: dict, epoch: int) -> None:
    """An OCI layout at ``layout`` holding image ``tag``: the layer tars in order (gzip), then
    the config (user, env, entrypoint, cmd, workdir) with fixed creation times."""
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    if not (layout / "index.json").exists():
        run(["umoci", "init", "--layout", layout])
        run(["umoci", "new", "--image", f"{layout}:{tag}"])
    for layer in layers:
        run(
            [
                "umoci",
                "raw",
                "add-layer",
                "--image",
                f"{layout}:{tag}",
                "--history.created",
                created,
                "--history.created_by",
                f"dwt image: {layer.stem}",
                layer,
            ]
        )
    argv: list[str | Path] = [
        "umoci",
        "config",
        "--image",
        f"{layout}:{tag}",
        "--architecture",
        "amd64",
        "--os",
        "linux",
        "--created",
        created,
        "--history.created",
        created,
        "--config.user",
        config["user"],
        "--config.workingdir",
        config.get("workdir", "/"),
        "--clear=config.entrypoint",
        "--clear=config.cmd",
        "--clear=config.env",
    ]
    for key, value in config.get("env", {}).items():
        argv += ["--config.env", f"{key}={value}"]
    for arg in config.get("entrypoint", []):
        argv += ["--config.entrypoint", arg]
    for arg in config.get("cmd", []):
        argv += ["--config.cmd", arg]
    run(argv)
    run(["umoci", "gc", "--layout", layout])


def name_image(layout: Path, ref: str) -> None:
    """Name the layout's one image: its tag (OCI's ref.name) and its full reference
    (containerd's image.name), so ``ctr images import`` and ``kind load image-archive`` name
    it without being told."""
    index = json.loads((layout / "index.json").read_text())
    for m in index["manifests"]:
        annotations = m.setdefault("annotations", {})
        annotations["org.opencontainers.image.ref.name"] = ref.rsplit(":", 1)[1]
        annotations["io.containerd.image.name"] = ref
    (layout / "index.json").write_text(json.dumps(index))


def archive(layout: Path, out: Path, epoch: int) -> None:
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    deterministic_tar(layout, tmp, epoch)
    tmp.rename(out)


# --- the Debian root filesystem ------------------------------------------------------------------


def read_lock() -> dict[str, str]:
    if not LOCK_FILE.exists():
        return {}
    lines = (ln.split("#")[0].split() for ln in LOCK_FILE.read_text().splitlines())
    return {f[0]: f[1] for f in lines if len(f) == 2}


def write_lock(versions: dict[str, str], suite: str) -> None:
    head = (
        f"# Debian {suite} packages of the image and their versions, written by "
        f"tools/image/build.py (one `package version` a line).\n# Each is pinned at build "
        f"time; when Debian stops serving one, the build says so and rewrites this file.\n"
    )
    LOCK_FILE.write_text(head + "".join(f"{p} {v}\n" for p, v in sorted(versions.items())))


def installed_versions(rootfs: Path) -> dict[str, str]:
    out = run(
        ["chroot", rootfs, "dpkg-query", "-W", "-f", "${Package}:${Architecture} ${Version}\n"],
        capture_output=True,
        text=True,
    ).stdout
    versions = {}
    for line in out.splitlines():
        name, version = line.split()
        versions[name.removesuffix(":amd64").removesuffix(":all")] = version
    return versions


def debian_rootfs(s: dict, rootfs: Path) -> None:
    """mmdebstrap the suite with the packages of image.toml, each package pinned (apt
    preferences at priority 1001) to its debian.lock version; then check what was installed
    against the lock and report (and record) every difference."""
    deb, img = s["debian"], s["image"]
    epoch = str(s["source_date_epoch"])
    lock = read_lock()
    prefs = "".join(
        f"Package: {p}\nPin: version {v}\nPin-Priority: 1001\n\n" for p, v in sorted(lock.items())
    )
    with scratch(rootfs.parent, ".prefs-") as tmp:
        (tmp / "lock.pref").write_text(prefs)
        argv: list[str | Path] = [
            "mmdebstrap",
            "--variant=minbase",
            "--mode=root",
            "--format=directory",
            "--quiet",
            '--aptopt=Acquire::Retries "3"',
            f"--include={','.join(deb['packages'])}",
            f'--setup-hook=mkdir -p "$1/etc/apt/preferences.d" && '
            f'cp {shlex.quote(str(tmp / "lock.pref"))} "$1/etc/apt/preferences.d/dwt-lock"',
            f'--customize-hook=chroot "$1" groupadd --gid {img["gid"]} {img["user"]}',
            f'--customize-hook=chroot "$1" useradd --uid {img["uid"]} --gid {img["gid"]} '
            f"--no-create-home --home-dir {img['home']} --shell /usr/sbin/nologin {img['user']}",
            '--customize-hook=rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* '
            '"$1"/etc/apt/preferences.d/dwt-lock',
            deb["suite"],
            rootfs,
            *deb["mirrors"],
        ]
        run(argv, env={**os.environ, "SOURCE_DATE_EPOCH": epoch})
    versions = installed_versions(rootfs)
    if versions != lock:
        moved = sorted(p for p in lock if p in versions and versions[p] != lock[p])
        if lock:
            log(
                f"Debian no longer serves the locked versions of {len(moved)} package(s): "
                + ", ".join(f"{p} {lock[p]} -> {versions[p]}" for p in moved)
                + f"; added {sorted(set(versions) - set(lock))}, removed "
                f"{sorted(set(lock) - set(versions))}. Wrote {LOCK_FILE}: commit it."
            )
        else:
            log(f"wrote {LOCK_FILE} ({len(versions)} packages): commit it")
        write_lock(versions, deb["suite"])


def chroot_script(
    rootfs: Path,
    script: str,
    *,
    mounts: Iterable[tuple[Path, str, bool]] = (),
    env: dict[str, str] | None = None,
) -> None:
    """Run ``script`` (bash) in ``rootfs`` with /dev, /proc, /sys and ``mounts`` (host path,
    path inside, read-only) bound, in a private mount namespace: nothing stays mounted."""
    binds = [
        'mount --rbind /dev "$r/dev"',
        'mount -t proc proc "$r/proc"',
        'mount -t sysfs sys "$r/sys"',
    ]
    for host, inside, ro in mounts:
        target = f'"$r"{shlex.quote(inside)}'
        kind = "-d" if host.is_dir() else "-f"
        binds.append(
            f"{{ [ {kind} {target} ] || {'mkdir -p' if host.is_dir() else 'touch'} {target}; }}"
        )
        binds.append(f"mount --bind {'-o ro ' if ro else ''}{shlex.quote(str(host))} {target}")
    env_args = " ".join(shlex.quote(f"{k}={v}") for k, v in (env or {}).items())
    outer = (
        "r=$1; "
        + "; ".join(binds)
        + (
            f'; exec chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root '
            f"{env_args} bash -euc {shlex.quote(script)}"
        )
    )
    run(["unshare", "--mount", "--propagation", "private", "bash", "-euc", outer, "_", rootfs])


def pip_env(s: dict) -> dict[str, str]:
    return {
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_DEFAULT_TIMEOUT": "180",
        "PIP_CERT": "/run/host-ca.crt",
        "SOURCE_DATE_EPOCH": str(s["source_date_epoch"]),
    }


def host_ca() -> Path:
    """The build machine's CA bundle, bound read-only for pip only (never baked in)."""
    for path in (
        os.environ.get("PIP_CERT"),
        os.environ.get("SSL_CERT_FILE"),
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if path and Path(path).is_file():
            return Path(path)
    raise BuildError("no CA bundle for pip (set PIP_CERT)")


def pip_cache() -> Path:
    path = Path(os.environ.get("PIP_CACHE_DIR", Path.home() / ".cache" / "pip"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def install_dependencies(s: dict, rootfs: Path) -> None:
    """The venv with the project's dependencies (constraints file), by the image's Python."""
    venv = s["image"]["venv"]
    (rootfs / "run" / "dwt").mkdir(parents=True, exist_ok=True)
    (rootfs / "run/dwt/requirements.txt").write_text("\n".join(dependencies()) + "\n")
    shutil.copy(CONSTRAINTS, rootfs / "run/dwt/constraints.txt")
    shutil.copy("/etc/resolv.conf", rootfs / "etc/resolv.conf")
    try:
        chroot_script(
            rootfs,
            (
                f"python3 -m venv {venv}\n"
                f"{venv}/bin/pip install --quiet -c /run/dwt/constraints.txt "
                f"-r /run/dwt/requirements.txt\n"
                f"{venv}/bin/pip uninstall --quiet --yes pip\n"
            ),
            mounts=[
                (host_ca(), "/run/host-ca.crt", True),
                (pip_cache(), "/root/.cache/pip", False),
            ],
            env=pip_env(s),
        )
    finally:
        (rootfs / "etc/resolv.conf").write_text("")
        shutil.rmtree(rootfs / "run" / "dwt", ignore_errors=True)
        shutil.rmtree(rootfs / "root" / ".cache", ignore_errors=True)
        for f in ("host-ca.crt",):
            (rootfs / "run" / f).unlink(missing_ok=True)


def image_config(s: dict) -> dict:
    img = s["image"]
    return {
        "user": f"{img['uid']}:{img['gid']}",
        "workdir": img["workdir"],
        "env": img["env"],
        "entrypoint": img["entrypoint"],
        "cmd": img["cmd"],
    }


def build_base(s: dict, key: str) -> Path:
    """The cached base: rootfs/ (for the project layer's overlay) and oci/, an OCI layout
    holding it as one layer (compressed once) under the tag ``base``."""
    root = cache_dir() / "base"
    dest = root / key
    if (dest / "oci" / "index.json").exists():
        os.utime(dest)
        return dest
    with scratch(root, f".{key[:12]}-") as tmp:
        started = time.monotonic()
        log("base: Debian root filesystem (mmdebstrap) ...")
        debian_rootfs(s, tmp / "rootfs")
        log(
            f"base: venv with the dependencies (pip, constraints) ... "
            f"[{time.monotonic() - started:.0f}s]"
        )
        install_dependencies(s, tmp / "rootfs")
        deterministic_tar(tmp / "rootfs", tmp / "layer.tar", s["source_date_epoch"])
        oci_layout(
            tmp / "oci", "base", [tmp / "layer.tar"], image_config(s), s["source_date_epoch"]
        )
        (tmp / "layer.tar").unlink()
        log(f"base: done in {time.monotonic() - started:.0f}s")
        if base_key() != key:  # the lock was (re)written: cache under the key it now has
            key = base_key()
            dest = root / key
        publish(tmp, dest)
    prune(root)
    return dest


# --- the project layer ---------------------------------------------------------------------------


def build_wheel(out: Path, s: dict) -> Path:
    """The project's wheel, built from the work tree by this Python (a pure-Python wheel)."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(s["source_date_epoch"])}
    with scratch(out, ".src-") as src:
        for f in project_files():  # only the files in the hash: nothing else can leak in
            dest = src / f.relative_to(REPO)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
        built = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--wheel-dir",
                str(out),
                str(src),
            ],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        if built.returncode != 0:
            raise BuildError(f"building the project's wheel failed:\n{built.stdout[-3000:]}")
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one wheel in {out}, found {wheels}")
    return wheels[0]


def project_layer(s: dict, base: Path, out: Path) -> None:
    """Install the wheel with --no-deps into the base's venv on an overlay; the overlay's upper
    directory (only what the install wrote) becomes the layer tar ``out``."""
    venv = s["image"]["venv"]
    with scratch(out.parent, ".project-") as tmp:
        wheel = build_wheel(tmp / "wheel", s)
        upper, work, merged = tmp / "upper", tmp / "work", tmp / "merged"
        for d in (upper, work, merged):
            d.mkdir()
        script = (
            f"r={shlex.quote(str(merged))}\n"
            f"mount -t overlay overlay -o lowerdir={base / 'rootfs'},upperdir={upper},"
            f'workdir={work} "$r"\n'
            f'mkdir -p "$r/run/wheel" && mount --bind -o ro {tmp / "wheel"} "$r/run/wheel"\n'
            'mount -t proc proc "$r/proc"\n'
            f'chroot "$r" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root '
            f"SOURCE_DATE_EPOCH={s['source_date_epoch']} {venv}/bin/python -m ensurepip "
            f"--default-pip >/dev/null\n"
            f'chroot "$r" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root PIP_NO_INDEX=1 '
            f"PIP_DISABLE_PIP_VERSION_CHECK=1 SOURCE_DATE_EPOCH={s['source_date_epoch']} "
            f"{venv}/bin/python -m pip install --quiet --no-deps /run/wheel/{wheel.name}\n"
            f'chroot "$r" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root PIP_NO_INDEX=1 '
            f"{venv}/bin/python -m pip uninstall --quiet --yes pip\n"
            'umount "$r/proc" "$r/run/wheel" "$r"\n'
        )
        run(["unshare", "--mount", "--propagation", "private", "bash", "-euc", script])
        # Only the venv is the project's: drop what running Python wrote elsewhere (bytecode
        # caches of the system's Python, the mount points).
        keep = upper / venv.lstrip("/")
        for path in sorted(upper.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if not (path == keep or keep in path.parents or path in keep.parents):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        whiteouts = [p for p in upper.rglob("*") if p.is_char_device()]
        if whiteouts:
            raise BuildError(f"the project install removed files of the base: {whiteouts[:5]}")
        deterministic_tar(upper, out, s["source_date_epoch"])


def build_image(s: dict) -> tuple[str, Path]:
    """Build (or find cached) the product image; returns (reference, OCI archive path)."""
    base = build_base(s, base_key())
    key = project_key(base.name)
    tag = f"{s['version']}-{key[:12]}"
    images = cache_dir() / "images"
    out = images / f"{tag}.tar"
    ref = f"{s['repository']}:{tag}"
    if out.exists():
        os.utime(out)
        return ref, out
    config = image_config(s)
    with scratch(images, f".{tag}-") as tmp:
        started = time.monotonic()
        log(f"project layer for {ref} ...")
        project_layer(s, base, tmp / "project.tar")
        shutil.copytree(base / "oci", tmp / "oci", copy_function=os.link)
        oci_layout(tmp / "oci", "base", [tmp / "project.tar"], config, s["source_date_epoch"])
        name_image(tmp / "oci", ref)
        archive(tmp / "oci", tmp / "image.tar", s["source_date_epoch"])
        (tmp / "image.tar").rename(out)
        log(f"project layer and archive in {time.monotonic() - started:.0f}s")
    prune(images)
    return ref, out


def build_binary_image(
    name: str, tag: str, files: list[tuple[Path, str]], entrypoint: list[str], user: str, epoch: int
) -> tuple[str, Path]:
    """A one-layer image of static binaries (pause, CoreDNS, FerretDB), cached by contents."""
    key = _digest(
        [
            ("name", f"{name}:{tag} {entrypoint} {user}".encode()),
            ("recipe", source_of(build_binary_image, oci_layout, deterministic_tar).encode()),
        ]
        + [(inside, src.read_bytes()) for src, inside in files]
    )[:16]
    images = cache_dir() / "binaries"
    out = images / f"{name.rsplit('/', 1)[-1]}-{tag}-{key}.tar"
    ref = f"{name}:{tag}"
    if out.exists():
        return ref, out
    with scratch(images, ".bin-") as tmp:
        root = tmp / "root"
        for src, inside in files:
            dest = root / inside.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest)
            dest.chmod(0o755)
        (root / "tmp").mkdir(mode=0o1777, exist_ok=True)
        (root / "tmp").chmod(0o1777)
        deterministic_tar(root, tmp / "layer.tar", epoch)
        oci_layout(
            tmp / "oci",
            tag,
            [tmp / "layer.tar"],
            {"user": user, "entrypoint": entrypoint, "workdir": "/"},
            epoch,
        )
        name_image(tmp / "oci", ref)
        archive(tmp / "oci", out, epoch)
    return ref, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/image/build.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--print-ref",
        action="store_true",
        help="print the product image's reference for the current inputs",
    )
    sub = parser.add_subparsers(dest="command")
    binary = sub.add_parser("binary", help="a one-layer image of static binaries")
    binary.add_argument("--name", required=True)
    binary.add_argument("--tag", required=True)
    binary.add_argument("--file", action="append", required=True, metavar="SRC:DEST")
    binary.add_argument("--entrypoint", action="append", required=True)
    binary.add_argument("--user", default="65535:65535")
    args = parser.parse_args(argv)
    s = spec()
    try:
        if args.print_ref:
            repo, tag = reference()
            print(f"{repo}:{tag}")
            return 0
        if os.geteuid() != 0:
            raise BuildError("building an image needs root (mmdebstrap, chroot, mounts)")
        started = time.monotonic()
        if args.command == "binary":
            files = [(Path(f.split(":", 1)[0]), f.split(":", 1)[1]) for f in args.file]
            ref, path = build_binary_image(
                args.name, args.tag, files, args.entrypoint, args.user, s["source_date_epoch"]
            )
        else:
            ref, path = build_image(s)
        print(f"{ref} {path}")
        log(f"{ref} ready in {time.monotonic() - started:.1f}s ({path.stat().st_size >> 20} MiB)")
        return 0
    except BuildError as e:
        print(f"tools/image/build.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Build the Lambda zip reproducibly: the same sources and pins give the same bytes.

    python scripts/package_lambda.py [--arch x86_64|arm64]   # -> build/lambda-ARCH/ (the tree),
                                                              #    dist/sync-job-lambda-ARCH.zip
    python scripts/package_lambda.py --verify                # build twice from scratch, compare sha256
    python scripts/package_lambda.py --lock                  # requirements/lambda.in -> lambda.lock

Building (--arch is the function's architecture, Terraform's lambda_architecture):
1. pip downloads the wheels pinned (with hashes) in requirements/lambda.lock for the Lambda
   platform of that architecture (CPython 3.12, manylinux2014 x86_64 or aarch64, binary wheels
   only: --only-binary=:all: --require-hashes).
2. Each wheel is unpacked into the build tree (what `pip install --target` does, minus the
   installer's own files: RECORD, INSTALLER, REQUESTED, console scripts with this machine's
   interpreter path in their shebang). Test directories, __pycache__ and *.pyc are left out.
3. botocore's service models are cut to the services the job calls (Secrets Manager, KMS for
   signing client assertions, and STS for the credential chain and federation): the other ~440
   models are most of the zip's size and are never read.
4. sync_job/ sources (*.py, py.typed) are added, and the trimmed botocore endpoint data of
   sync_job/botodata.py (sync_job/_botocore_data/<botocore version>/: endpoints.json and models).
5. Every module is compiled to bytecode by a CPython 3.12 (`--pyc-python`, default `python3.12`
   on PATH or under pyenv): Lambda's /var/task is read-only, so without .pyc files each cold start
   compiles every module it imports, about half of a cold start (1.1 s against 0.55 s for the
   handler's imports and its client, measured with python3.12 and PYTHONDONTWRITEBYTECODE=1).
   The .pyc files are unchecked-hash (PEP 552: no timestamp, the source is never re-read),
   compiled with PYTHONHASHSEED=0 and named as in /var/task, so they are reproducible too.
6. The zip is written with sorted entries, one fixed timestamp (1980-01-01), mode 0644 and
   maximum deflate, so neither the checkout's mtimes nor the umask nor the directory order of
   the file system reach it.

Locking (--lock, `make lock-lambda`): requirements/lambda.in names the runtime dependencies;
requirements/dev.lock is the constraint, so every package both ship has one version (the one
the tests ran with). pip resolves the .in once per architecture with that architecture's
--platform, exactly as step 1 downloads it; both resolutions must agree on every version, and
the lock gets the sha256 of every wheel downloaded (a pure-Python wheel has one, a compiled one
one per architecture). pip-compile --generate-hashes would resolve for the interpreter running
it (CPython 3.11 here), not for Lambda's 3.12 per architecture, and would hash every file of a
release (each platform's wheels and the sdist), so a wheel nobody tested could still install.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS_IN = ROOT / "requirements" / "lambda.in"
DEFAULT_REQUIREMENTS = ROOT / "requirements" / "lambda.lock"
DEV_LOCK = ROOT / "requirements" / "dev.lock"
SOURCE_PACKAGE = ROOT / "sync_job"

# Lambda's architecture names (Terraform's lambda_architecture) -> the manylinux machine name.
# manylinux2014 (glibc 2.17) wheels run on the python3.12 runtime (Amazon Linux 2023, glibc 2.34).
ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}
DEFAULT_ARCH = "x86_64"


def default_build_dir(arch: str) -> Path:
    return ROOT / "build" / f"lambda-{arch}"


def default_out(arch: str) -> Path:
    return ROOT / "dist" / f"sync-job-lambda-{arch}.zip"


def platform_args(arch: str) -> tuple[str, ...]:
    """pip's target-platform options for Lambda's CPython 3.12 on ``arch`` (binary wheels only)."""
    return (
        "--platform",
        f"manylinux2014_{ARCHITECTURES[arch]}",
        "--implementation",
        "cp",
        "--python-version",
        "3.12",
        "--abi",
        "cp312",
        "--only-binary=:all:",
    )


# botocore/data/<service>/ directories kept; every top-level file of botocore/data is kept.
# = sync_job.botodata.SERVICES (tests/infra/test_package.py checks).
# kms: private_key_jwt signed by a KMS key (kms:Sign, kms:GetPublicKey); sts: the credential
# chain and federated client assertions (sts:GetWebIdentityToken).
DEFAULT_BOTOCORE_SERVICES = ("kms", "secretsmanager", "sts")
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--: Lambda needs world-readable files
EXCLUDED_DIRS = {"__pycache__", "tests", "test"}
LAMBDA_TASK_ROOT = "/var/task"  # where Lambda unzips the function; the .pyc files name it
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
# Installer and build artefacts of a wheel's .dist-info that say nothing about the code.
EXCLUDED_DIST_INFO = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(cmd, check=True, timeout=600, env=env)


def find_pyc_python(explicit: str | None) -> str:
    """A CPython 3.12 to compile with (the Lambda runtime's version: bytecode is per minor
    version). Raises SystemExit naming what to install when there is none."""
    pyenv = glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12"))
    # The newest patch release first: 3.12.10 before 3.12.9, by number rather than by text.
    pyenv.sort(
        key=lambda path: [int(n) for n in re.findall(r"\d+", Path(path).parents[1].name)], reverse=True
    )
    candidates = [explicit] if explicit else ["python3.12", *pyenv]
    for candidate in candidates:
        found = shutil.which(candidate) if candidate else None
        if found is None:
            continue
        probe = subprocess.run(
            [found, "-c", "import sys; print(sys.implementation.name, *sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if probe.stdout.split() == ["cpython", "3", "12"]:
            return found
    raise SystemExit(
        "packaging needs CPython 3.12 (Lambda's python3.12) to compile the zip's bytecode: "
        "install python3.12 or name one with --pyc-python"
    )


def compile_bytecode(tree: Path, python: str) -> None:
    """Every module of ``tree`` as an unchecked-hash .pyc in __pycache__, its file name as it
    will be in /var/task. PYTHONHASHSEED=0: set and frozenset constants marshal in hash order."""
    # None of the caller's PYTHON* settings: PYTHONOPTIMIZE would write only .opt-1.pyc files
    # (which Lambda never loads) and PYTHONPYCACHEPREFIX would put them outside the tree.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"PYTHONHASHSEED": "0"}
    run(
        [
            python,
            "-m",
            "compileall",
            "-q",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(tree),
            "-p",
            LAMBDA_TASK_ROOT,
            str(tree),
        ],
        env=env,
    )


def download_wheels(
    requirements: Path, dest: Path, arch: str, *, constraints: Path | None = None
) -> list[Path]:
    """The wheels of ``requirements`` for ``arch`` in ``dest``: hash-checked against the lock
    when building; resolved under ``constraints`` (and not hash-checked) when locking."""
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.whl"):
        old.unlink()
    checks = ["--require-hashes"] if constraints is None else ["--constraint", str(constraints)]
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            *platform_args(arch),
            *checks,
            "--dest",
            str(dest),
            "-r",
            str(requirements),
        ]
    )
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"no wheels downloaded from {requirements}")
    return wheels


def keep(path: PurePosixPath) -> bool:
    if any(part in EXCLUDED_DIRS for part in path.parts[:-1]):
        return False
    if path.name.endswith(EXCLUDED_SUFFIXES):
        return False
    return not (path.parent.name.endswith(".dist-info") and path.name in EXCLUDED_DIST_INFO)


def install_path(name: str) -> PurePosixPath | None:
    """Where a wheel member goes in the tree, or None to leave it out."""
    path = PurePosixPath(name)
    if name.endswith("/"):
        return None
    if path.parts[0].endswith(".data"):
        # purelib/platlib are the package itself; scripts, headers and data are not importable.
        if len(path.parts) > 2 and path.parts[1] in ("purelib", "platlib"):
            path = PurePosixPath(*path.parts[2:])
        else:
            return None
    return path if keep(path) else None


def unpack(wheels: list[Path], tree: Path) -> None:
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.infolist():
                target = install_path(member.filename)
                if target is None:
                    continue
                out = tree / target
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(archive.read(member))


def prune_botocore(tree: Path, services: tuple[str, ...]) -> None:
    data = tree / "botocore" / "data"
    if not data.is_dir():
        return
    missing = [s for s in services if not (data / s).is_dir()]
    if missing:
        raise SystemExit(f"botocore has no service model for {', '.join(missing)}")
    for entry in data.iterdir():
        if entry.is_dir() and entry.name not in services:
            shutil.rmtree(entry)


def copy_sources(tree: Path) -> None:
    for source in sorted(SOURCE_PACKAGE.rglob("*")):
        relative = source.relative_to(ROOT)
        # The trimmed botocore data of sync_job/botodata.py too (_botocore_data/<version>/*.json).
        data = source.suffix == ".json" and "_botocore_data" in relative.parts
        if source.is_dir() or not (source.suffix == ".py" or source.name == "py.typed" or data):
            continue
        if not keep(PurePosixPath(relative.as_posix())):
            continue
        out = tree / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, out)


def write_zip(tree: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    # Sorted by archive name (byte order of the UTF-8 names), whatever the file system's order.
    files = sorted((p.relative_to(tree).as_posix(), p) for p in tree.rglob("*") if p.is_file())
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.external_attr = FILE_MODE << 16
            info.create_system = 3  # Unix, so unzip honours the mode above
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(out)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(
    *,
    requirements: Path,
    tree: Path,
    out: Path,
    botocore_services: tuple[str, ...],
    arch: str,
    pyc_python: str,
) -> str:
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="sync-job-wheels-") as wheel_dir:
        wheels = download_wheels(requirements, Path(wheel_dir), arch)
        unpack(wheels, tree)
    if botocore_services:
        prune_botocore(tree, botocore_services)
    copy_sources(tree)
    if not (tree / "sync_job" / "lambda_handler.py").is_file():
        raise SystemExit("sync_job/lambda_handler.py is missing: the zip would have no handler")
    compile_bytecode(tree, pyc_python)
    write_zip(tree, out)
    return sha256(out)


LOCK_HEADER = """\
# Generated by `make lock-lambda` (scripts/package_lambda.py --lock) from requirements/lambda.in,
# with requirements/dev.lock as constraints: do not edit, change those and re-run.
# The runtime dependencies shipped in the Lambda zip (`make package`), for CPython 3.12 on
# manylinux2014 x86_64 and aarch64: one version each, and the sha256 of every wheel shipped (a
# compiled package has one per architecture). boto3/botocore are in the Lambda runtime too, but
# that copy changes under the job whenever AWS updates it: shipping our pins keeps the deployed
# code the tested code.
"""


def canonical(name: str) -> str:
    """PEP 503 normalized project name: "PyJWT" and "pyjwt", "charset_normalizer" and
    "charset-normalizer" are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name_version(wheel: Path) -> tuple[str, str]:
    """(canonical name, version) from a wheel's file name (PEP 427: name-version-[build-]tags)."""
    parts = wheel.name[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        raise SystemExit(f"not a wheel file name: {wheel.name}")
    return canonical(parts[0]), parts[1]


def resolve_lock(requirements_in: Path, constraints: Path) -> dict[str, tuple[str, list[str]]]:
    """{name: (version, sorted sha256 of its wheels)} over every architecture. Raises SystemExit
    if two architectures resolve a package to different versions."""
    versions: dict[str, dict[str, str]] = {}
    hashes: dict[str, set[str]] = {}
    with tempfile.TemporaryDirectory(prefix="sync-job-lock-") as tmp:
        for arch in ARCHITECTURES:
            for wheel in download_wheels(requirements_in, Path(tmp) / arch, arch, constraints=constraints):
                name, version = wheel_name_version(wheel)
                versions.setdefault(name, {})[arch] = version
                hashes.setdefault(name, set()).add(sha256(wheel))
    lock: dict[str, tuple[str, list[str]]] = {}
    for name, by_arch in sorted(versions.items()):
        if set(by_arch) != set(ARCHITECTURES) or len(set(by_arch.values())) != 1:
            raise SystemExit(f"{name}: the architectures resolve different versions: {by_arch}")
        lock[name] = (next(iter(by_arch.values())), sorted(hashes[name]))
    return lock


def render_lock(lock: dict[str, tuple[str, list[str]]]) -> str:
    lines = [LOCK_HEADER.rstrip("\n")]
    for name, (version, digests) in lock.items():
        lines.append(f"{name}=={version} \\")
        lines += [
            f"    --hash=sha256:{digest}" + (" \\" if i < len(digests) - 1 else "")
            for i, digest in enumerate(digests)
        ]
    return "\n".join(lines) + "\n"


def write_lock(requirements_in: Path, constraints: Path, out: Path) -> None:
    lock = resolve_lock(requirements_in, constraints)
    out.write_text(render_lock(lock))
    print(f"{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}: {len(lock)} packages")


def human(size: int) -> str:
    return f"{size / 1_048_576:.2f} MiB" if size >= 1_048_576 else f"{size / 1024:.1f} KiB"


def tree_size(tree: Path) -> int:
    return sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--arch",
        choices=sorted(ARCHITECTURES),
        default=DEFAULT_ARCH,
        help="the function's architecture (Terraform's lambda_architecture); default x86_64",
    )
    parser.add_argument("--requirements", type=Path, default=DEFAULT_REQUIREMENTS)
    parser.add_argument("--build-dir", type=Path, help="default build/lambda-ARCH")
    parser.add_argument("--out", type=Path, help="default dist/sync-job-lambda-ARCH.zip")
    parser.add_argument(
        "--botocore-services",
        default=",".join(DEFAULT_BOTOCORE_SERVICES),
        help="botocore service models to keep, comma-separated; empty keeps them all",
    )
    parser.add_argument(
        "--pyc-python",
        help="the CPython 3.12 that compiles the bytecode (default: python3.12 on PATH or under pyenv)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="build a second time from scratch and fail unless both zips are identical",
    )
    parser.add_argument(
        "--lock",
        action="store_true",
        help="write --requirements (requirements/lambda.lock) from requirements/lambda.in; no build",
    )
    args = parser.parse_args(argv)
    if args.lock:
        write_lock(REQUIREMENTS_IN, DEV_LOCK, args.requirements)
        return 0
    services = tuple(s for s in args.botocore_services.split(",") if s)
    tree = args.build_dir or default_build_dir(args.arch)
    out = args.out or default_out(args.arch)

    pyc_python = find_pyc_python(args.pyc_python)
    digest = build(
        requirements=args.requirements,
        tree=tree,
        out=out,
        botocore_services=services,
        arch=args.arch,
        pyc_python=pyc_python,
    )
    size = out.stat().st_size
    with zipfile.ZipFile(out) as archive:
        entries = len(archive.infolist())
    print(
        f"{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} ({args.arch}): "
        f"{size} bytes ({human(size)}) zipped, {human(tree_size(tree))} unzipped, "
        f"{entries} files, sha256 {digest}"
    )
    if args.verify:
        with tempfile.TemporaryDirectory(prefix="sync-job-verify-") as tmp:
            again = build(
                requirements=args.requirements,
                tree=Path(tmp) / "tree",
                out=Path(tmp) / "again.zip",
                botocore_services=services,
                arch=args.arch,
                pyc_python=pyc_python,
            )
        if again != digest:
            print(f"NOT reproducible: a second build gave sha256 {again}", file=sys.stderr)
            return 1
        print("reproducible: a second build from scratch gave the same sha256")
    return 0


if __name__ == "__main__":
    sys.exit(main())

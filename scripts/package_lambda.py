#!/usr/bin/env python3
"""Build the Lambda zip reproducibly: the same sources and pins give the same bytes.

    python scripts/package_lambda.py            # -> build/lambda/ (the tree), dist/sync-job-lambda.zip
    python scripts/package_lambda.py --verify   # build twice from scratch and compare sha256

1. pip downloads the wheels pinned (with hashes) in requirements/lambda.txt for the Lambda
   platform (CPython 3.12, manylinux2014 x86_64, binary wheels only).
2. Each wheel is unpacked into build/lambda/ (what `pip install --target` does, minus the
   installer's own files: RECORD, INSTALLER, REQUESTED, console scripts with this machine's
   interpreter path in their shebang). Test directories, __pycache__ and *.pyc are left out.
3. botocore's service models are cut to the services the job calls (Secrets Manager, and STS
   for the credential chain): the other ~440 models are most of the zip's size and are never read.
4. sync_job/ sources (*.py, py.typed) are added.
5. The zip is written with sorted entries, one fixed timestamp (1980-01-01), mode 0644 and
   maximum deflate, so neither the checkout's mtimes nor the umask nor the directory order of
   the file system reach it.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REQUIREMENTS = ROOT / "requirements" / "lambda.txt"
DEFAULT_BUILD = ROOT / "build" / "lambda"
DEFAULT_OUT = ROOT / "dist" / "sync-job-lambda.zip"
SOURCE_PACKAGE = ROOT / "sync_job"

PLATFORM = (
    "--platform",
    "manylinux2014_x86_64",
    "--implementation",
    "cp",
    "--python-version",
    "3.12",
    "--abi",
    "cp312",
    "--only-binary=:all:",
)
# botocore/data/<service>/ directories kept; every top-level file of botocore/data is kept.
DEFAULT_BOTOCORE_SERVICES = ("secretsmanager", "sts")
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--: Lambda needs world-readable files
EXCLUDED_DIRS = {"__pycache__", "tests", "test"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
# Installer and build artefacts of a wheel's .dist-info that say nothing about the code.
EXCLUDED_DIST_INFO = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, timeout=600)


def download_wheels(requirements: Path, dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.whl"):
        old.unlink()
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            *PLATFORM,
            "--require-hashes",
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
        if source.is_dir() or not (source.suffix == ".py" or source.name == "py.typed"):
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


def build(*, requirements: Path, tree: Path, out: Path, botocore_services: tuple[str, ...]) -> str:
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="sync-job-wheels-") as wheel_dir:
        wheels = download_wheels(requirements, Path(wheel_dir))
        unpack(wheels, tree)
    if botocore_services:
        prune_botocore(tree, botocore_services)
    copy_sources(tree)
    if not (tree / "sync_job" / "lambda_handler.py").is_file():
        raise SystemExit("sync_job/lambda_handler.py is missing: the zip would have no handler")
    write_zip(tree, out)
    return sha256(out)


def human(size: int) -> str:
    return f"{size / 1_048_576:.2f} MiB" if size >= 1_048_576 else f"{size / 1024:.1f} KiB"


def tree_size(tree: Path) -> int:
    return sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=DEFAULT_REQUIREMENTS)
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--botocore-services",
        default=",".join(DEFAULT_BOTOCORE_SERVICES),
        help="botocore service models to keep, comma-separated; empty keeps them all",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="build a second time from scratch and fail unless both zips are identical",
    )
    args = parser.parse_args(argv)
    services = tuple(s for s in args.botocore_services.split(",") if s)

    digest = build(
        requirements=args.requirements, tree=args.build_dir, out=args.out, botocore_services=services
    )
    size = args.out.stat().st_size
    with zipfile.ZipFile(args.out) as archive:
        entries = len(archive.infolist())
    print(
        f"{args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}: "
        f"{size} bytes ({human(size)}) zipped, {human(tree_size(args.build_dir))} unzipped, "
        f"{entries} files, sha256 {digest}"
    )
    if args.verify:
        with tempfile.TemporaryDirectory(prefix="sync-job-verify-") as tmp:
            again = build(
                requirements=args.requirements,
                tree=Path(tmp) / "tree",
                out=Path(tmp) / "again.zip",
                botocore_services=services,
            )
        if again != digest:
            print(f"NOT reproducible: a second build gave sha256 {again}", file=sys.stderr)
            return 1
        print("reproducible: a second build from scratch gave the same sha256")
    return 0


if __name__ == "__main__":
    sys.exit(main())

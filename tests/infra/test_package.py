"""`make package`: the Lambda zip is reproducible, holds the handler and pinned dependencies for
the Lambda platform of its architecture, and no tests, caches or installer files. The arm64 zip
cannot run here: its compiled modules are shown to be aarch64 code from aarch64 wheels."""

from __future__ import annotations

import hashlib
import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scripts.package_lambda import DEFAULT_BOTOCORE_SERVICES
from standins.lambda_package import Package, build_package, interpreter_shim
from sync_job import botodata

pytestmark = [pytest.mark.infra, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_LIMIT = 50 * 1024 * 1024  # zipped upload limit of a Lambda function
# ELF e_machine values (the System V ABI's registry, and <elf.h>): EM_X86_64, EM_AARCH64.
E_MACHINE = {"x86_64": 62, "arm64": 183}
WHEEL_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
# The packages that ship compiled code, and where it lives in the zip.
COMPILED = {
    "charset-normalizer": "charset_normalizer/",
    "cryptography": "cryptography/",
    "cffi": "_cffi_backend",
}


PYC_NAME = re.compile(r"((?:[^/]+/)*)__pycache__/([^/]+)\.cpython-312\.pyc")


def pins() -> dict[str, str]:
    text = (ROOT / "requirements" / "lambda.lock").read_text()
    return {
        name.lower().replace("_", "-"): version
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", text, re.MULTILINE)
    }


def test_two_builds_from_scratch_are_byte_identical(lambda_package: Package, tmp_path: Path) -> None:
    again = build_package(tmp_path)
    first = hashlib.sha256(lambda_package.zip_path.read_bytes()).hexdigest()
    second = hashlib.sha256(again.zip_path.read_bytes()).hexdigest()
    assert first == second
    assert f"sha256 {first}" in lambda_package.build_output
    assert re.search(r"\d+ bytes \([\d.]+ (KiB|MiB)\) zipped", lambda_package.build_output)


def test_zip_holds_the_handler_the_pins_and_nothing_else(lambda_package: Package) -> None:
    with zipfile.ZipFile(lambda_package.zip_path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert lambda_package.zip_path.stat().st_size < LAMBDA_LIMIT
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
        assert (info.external_attr >> 16) == 0o100644, info.filename
        parts = info.filename.split("/")
        if "__pycache__" in parts:
            # Only the bytecode Lambda's python3.12 loads, beside the module it was compiled from.
            assert (m := PYC_NAME.fullmatch(info.filename)), info.filename
            assert f"{m.group(1)}{m.group(2)}.py" in set(i.filename for i in infos), info.filename
        else:
            assert not info.filename.endswith((".pyc", ".pyo")), info.filename
        assert not {"tests", "test"} & set(parts[:-1]), info.filename
        assert parts[-1] not in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json"), info.filename
        assert not info.filename.startswith("bin/"), info.filename

    # The handler and the whole package, byte for byte the checkout's sources.
    assert "sync_job/lambda_handler.py" in names
    sources = sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "sync_job").rglob("*.py")
        if "__pycache__" not in p.parts
    )
    assert sorted(n for n in names if n.startswith("sync_job/") and n.endswith(".py")) == sources
    # Every module has its bytecode.
    modules = [n for n in names if n.endswith(".py")]
    assert {n for n in names if n.endswith(".pyc")} == {
        f"{n.rpartition('/')[0]}/__pycache__/{n.rpartition('/')[2][:-3]}.cpython-312.pyc".lstrip("/")
        for n in modules
    }
    for source in sources:
        assert (lambda_package.unzipped / source).read_bytes() == (ROOT / source).read_bytes()

    # Exactly the pinned distributions, at the pinned versions.
    shipped = {
        m.group(1).lower().replace("_", "-"): m.group(2)
        for n in names
        if (m := re.match(r"^([^/]+)-([^-/]+)\.dist-info/METADATA$", n))
    }
    assert shipped == pins()

    # botocore keeps the service models the job uses, and only those.
    models = {n.split("/")[2] for n in names if n.startswith("botocore/data/") and n.count("/") > 2}
    assert models == set(botodata.SERVICES) == set(DEFAULT_BOTOCORE_SERVICES)
    # The trimmed endpoint data of sync_job/botodata.py, for the botocore version the zip ships.
    data = f"sync_job/_botocore_data/{pins()['botocore']}/endpoints.json"
    assert data in names
    assert (lambda_package.unzipped / data).read_bytes() == (ROOT / data).read_bytes()

    # Compiled code: charset-normalizer's optional speedup and cffi's backend, built for CPython
    # 3.12, and cryptography's Rust core (abi3); all of it x86_64 machine code.
    assert_compiled_for(lambda_package, "x86_64")


@pytest.fixture(scope="module")
def arm64_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return build_package(tmp_path_factory.mktemp("lambda-package-arm64"), "--arch", "arm64")


def test_arm64_zip_holds_the_same_pins_built_for_aarch64(
    arm64_package: Package, lambda_package: Package
) -> None:
    assert "(arm64)" in arm64_package.build_output
    with zipfile.ZipFile(arm64_package.zip_path) as archive:
        names = [i.filename for i in archive.infolist()]
    with zipfile.ZipFile(lambda_package.zip_path) as archive:
        x86_names = [i.filename for i in archive.infolist()]
    shipped = {
        m.group(1).lower().replace("_", "-"): m.group(2)
        for n in names
        if (m := re.match(r"^([^/]+)-([^-/]+)\.dist-info/METADATA$", n))
    }
    assert shipped == pins()
    # The same files but for the compiled modules' names (their file names carry the machine).
    assert sorted(n for n in names if not n.endswith(".so")) == sorted(
        n for n in x86_names if not n.endswith(".so")
    )
    assert_compiled_for(arm64_package, "arm64")


def assert_compiled_for(package: Package, arch: str) -> None:
    """Every shared object is an ELF file for ``arch``'s machine, every compiled package's wheel
    was tagged for it, and the packages with compiled code are exactly COMPILED."""
    tree = package.unzipped
    shared = sorted(p for p in tree.rglob("*.so*") if p.is_file())
    assert shared
    for path in shared:
        header = path.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", path
        # e_machine: a 16-bit field at offset 18, in the byte order EI_DATA (offset 5) names.
        order = "<" if header[5] == 1 else ">"
        (machine,) = struct.unpack(order + "H", header[18:20])
        assert machine == E_MACHINE[arch], f"{path.relative_to(tree)}: e_machine {machine}"
    owners = {
        name
        for name, prefix in COMPILED.items()
        for path in shared
        if path.relative_to(tree).as_posix().startswith(prefix)
    }
    assert owners == set(COMPILED), [p.relative_to(tree).as_posix() for p in shared]
    for dist_info in tree.glob("*.dist-info"):
        tags = re.findall(r"^Tag: (\S+)$", (dist_info / "WHEEL").read_text(), re.MULTILINE)
        assert tags, dist_info.name
        platforms = {t.split("-")[2] for t in tags}
        if platforms == {"any"}:
            continue
        name = dist_info.name.split("-")[0].lower().replace("_", "-")
        assert name in COMPILED, f"{name} ships compiled code"
        assert all(p.endswith("_" + WHEEL_MACHINE[arch]) and "linux" in p for p in platforms), (name, tags)
        assert any(t.startswith(("cp312-cp312-", "cp311-abi3-")) for t in tags), (name, tags)


def test_unzipped_package_imports_the_handler_without_site_packages(
    lambda_package: Package, tmp_path: Path
) -> None:
    """Only the standard library and the zip: what Lambda has (here on this machine's Python;
    charset-normalizer falls back from its 3.12 binary to its pure-Python modules; cryptography
    is abi3, so its binary loads here too, with cffi's backend for this Python from the shim)."""
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "import sync_job.lambda_handler, boto3, requests, tenacity, click, jwt, cryptography\n"
        "from cryptography.hazmat.primitives.asymmetric import ec\n"
        "key = ec.generate_private_key(ec.SECP256R1())\n"
        "assert jwt.decode(jwt.encode({'a': 1}, key, 'ES256'), key.public_key(), ['ES256']) == {'a': 1}\n"
        "assert callable(sync_job.lambda_handler.handler)\n"
        "for m in (sync_job.lambda_handler, boto3, requests, tenacity, click, jwt, cryptography):\n"
        "    assert m.__file__.startswith(sys.argv[1]), m.__file__\n"
        "import boto3; boto3.client('secretsmanager', region_name='us-east-1')\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            code,
            str(lambda_package.unzipped),
            str(interpreter_shim(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_bytecode_is_what_lambda_python312_loads_without_reading_the_sources(
    lambda_package: Package, tmp_path: Path
) -> None:
    """/var/task is read-only: the zip's .pyc files are all a cold start gets. They are PEP 552
    unchecked-hash files (so python3.12 never re-reads or re-compiles the source) naming
    /var/task paths. Shown by breaking a source after unzipping: the import still works."""
    from scripts.package_lambda import find_pyc_python

    python = find_pyc_python(None)
    magic = subprocess.run(
        [python, "-c", "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    unzipped = tmp_path / "task"  # a copy of its own: other tests import from the shared one
    with zipfile.ZipFile(lambda_package.zip_path) as archive:
        archive.extractall(unzipped)
    for pyc in unzipped.rglob("*.pyc"):
        header = pyc.read_bytes()[:8]
        assert header[:4].hex() == magic, pyc
        assert struct.unpack("<I", header[4:8])[0] == 0b01, pyc  # hash-based, source not checked
    # Break the handler's source and a botocore module's: a cold start that read either fails.
    for source in ("sync_job/lambda_handler.py", "botocore/client.py"):
        path = unzipped / source
        path.write_text('raise SystemExit("the source was read")\n')
    code = (
        "import sys; sys.path[:0] = [sys.argv[1]]\n"
        "import sync_job.lambda_handler as h, botocore.client\n"
        "print(h.handler.__code__.co_filename)\n"
    )
    proc = subprocess.run(
        [python, "-I", "-S", "-c", code, str(unzipped)],
        env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # Python names the file it loaded in tracebacks; the .pyc itself carries only /var/task names,
    # never the build machine's path (which would also make the zip differ between checkouts).
    assert proc.stdout.strip() == str(unzipped / "sync_job" / "lambda_handler.py")
    handler_pyc = (unzipped / "sync_job" / "__pycache__" / "lambda_handler.cpython-312.pyc").read_bytes()
    assert b"/var/task/sync_job/lambda_handler.py" in handler_pyc
    assert str(ROOT).encode() not in handler_pyc and b"/build/" not in handler_pyc

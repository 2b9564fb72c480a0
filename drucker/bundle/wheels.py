"""The wheelhouse: every Python dependency of a bundle, downloaded and pinned on the host.

Wheels are resolved for the bundle's :class:`~drucker.bundle.target.Target` (the image's
Python and platform), never for the host. The image build then installs only from these files
(``--no-index --require-hashes``), so it needs no network and installs exactly what the
manifest lists. A resolution is cached under the store, keyed by the requirements, the target,
the index settings and the drucker wheel, so an unchanged build resolves nothing.
"""

from __future__ import annotations

import collections
import configparser
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import cattrs
from packaging.utils import canonicalize_name, parse_wheel_filename

import drucker
from drucker._version import __version__
from drucker.bundle.target import Target
from drucker.errors import ConfigurationError

# Wheels built here get fixed timestamps, so the same source gives the same bytes.
REPRODUCIBLE_EPOCH = "315532800"
PINS_FILE = "pins.json"
ERROR_TAIL_LINES = 15

Progress = Callable[[str], None]


@attrs.frozen
class PinnedPackage:
    """One wheel of the wheelhouse."""

    name: str
    version: str
    filename: str
    sha256: str


def _pip_env() -> dict[str, str]:
    return {
        **os.environ,
        "SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def _run_pip(args: list[str], what: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, env=_pip_env()
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-ERROR_TAIL_LINES:])
        raise ConfigurationError(f"{what} failed:\n{tail}")


_COLLECTING = re.compile(r"^Collecting (\S+)")
_FETCHING = re.compile(r"^\s*(?:Downloading|Using cached|Processing) (\S+)(?: \((.+)\))?")


def _run_pip_with_progress(args: list[str], what: str, progress: Progress) -> None:
    """Run pip, reporting each requirement it collects and each wheel it fetches."""
    tail: collections.deque[str] = collections.deque(maxlen=ERROR_TAIL_LINES)
    collected = 0
    with subprocess.Popen(
        [sys.executable, "-m", "pip", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_pip_env(),
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            tail.append(line)
            if found := _COLLECTING.match(line):
                collected += 1
                progress(f"  [{collected}] resolving {found.group(1)}")
            elif found := _FETCHING.match(line):
                name = Path(found.group(1)).name
                size = f" ({found.group(2)})" if found.group(2) else ""
                progress(f"      fetching {name}{size}")
    if process.returncode != 0:
        raise ConfigurationError(f"{what} failed:\n" + "\n".join(tail))


def drucker_source_tree() -> Path | None:
    """The source tree drucker runs from, when it was installed from one (editable)."""
    root = Path(drucker.__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "drucker"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def _tree_digest(root: Path) -> str:
    """A digest of the files a drucker wheel is built from."""
    digest = hashlib.sha256()
    paths = [root / "pyproject.toml", root / "README.md"]
    for package in ("drucker", "plugins"):
        paths += sorted(
            p
            for p in (root / package).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        )
    for path in paths:
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def drucker_wheel(cache: Path) -> Path:
    """A wheel of the running drucker (with its first-party plugins), built once per source."""
    source = drucker_source_tree()
    key = f"tree-{_tree_digest(source)[:24]}" if source is not None else f"release-{__version__}"
    directory = cache / "drucker-wheels" / key
    wheels = sorted(directory.glob("drucker-*.whl"))
    if wheels:
        return wheels[-1]
    directory.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory.parent) as building:
        if source is not None:
            _run_pip(
                ["wheel", "--no-deps", "--quiet", "-w", building, str(source)],
                "building the drucker wheel",
            )
        else:
            _run_pip(
                ["download", "--no-deps", "--quiet", "-d", building, f"drucker=={__version__}"],
                "downloading the drucker wheel",
            )
        if not any(Path(building).glob("drucker-*.whl")):
            raise ConfigurationError("no drucker wheel was produced")
        with contextlib.suppress(OSError):  # another build put it there first
            os.replace(building, directory)
    return sorted(directory.glob("drucker-*.whl"))[-1]


def _pip_config_files() -> list[Path]:
    """The configuration files pip reads (site-wide, per user, per environment, from env)."""
    xdg_dirs = os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep)
    home = Path.home()
    xdg_home = Path(os.environ.get("XDG_CONFIG_HOME", home / ".config"))
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs if d]
    files += [Path("/etc/pip.conf"), home / ".pip" / "pip.conf", xdg_home / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    return [f for f in files if f.is_file()]


def index_settings() -> dict[str, str]:
    """What decides which wheels pip finds: its config files, PIP_* variables, constraints."""
    settings = {k: v for k, v in os.environ.items() if k.startswith("PIP_")}
    referenced: list[str] = []
    for path in _pip_config_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        settings[f"file:{path}"] = text
        parser = configparser.ConfigParser(interpolation=None)
        with contextlib.suppress(configparser.Error):
            parser.read_string(text)
            for section in parser.sections():
                for key in ("constraint", "requirement"):
                    referenced += parser.get(section, key, fallback="").split()
    referenced += os.environ.get("PIP_CONSTRAINT", "").split()
    for name in referenced:
        path = Path(name)
        if path.is_file():
            settings[f"file:{path}"] = path.read_text(encoding="utf-8", errors="replace")
    return settings


def resolution_key(
    requirements: list[str], target: Target, drucker_wheel_digest: str, index: dict[str, str]
) -> str:
    """The cache key of one resolution."""
    document = {
        "requirements": requirements,
        "target": attrs.asdict(target),
        "drucker": drucker_wheel_digest,
        "index": index,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def pin(wheelhouse: Path) -> list[PinnedPackage]:
    """Every wheel in the wheelhouse with its version and digest, sorted by name."""
    pinned = []
    for wheel in sorted(wheelhouse.glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        pinned.append(
            PinnedPackage(
                str(canonicalize_name(name)), str(version), wheel.name, sha256_file(wheel)
            )
        )
    names = [p.name for p in pinned]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ConfigurationError(f"the wheelhouse holds several versions of {sorted(duplicates)}")
    return sorted(pinned, key=lambda p: p.name)


def lock_file(pinned: list[PinnedPackage]) -> str:
    """A hash-pinned requirements file for ``pip install --require-hashes``."""
    return "".join(f"{p.name}=={p.version} --hash=sha256:{p.sha256}\n" for p in pinned)


def read_requirements(value: list[str] | str, project: Path) -> list[str]:
    """The requirement strings of a spec: a list, or lines of a requirements file."""
    if isinstance(value, list):
        return value
    lines = (project / value).read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


_converter = cattrs.Converter()


@contextlib.contextmanager
def _fresh_directory(parent: Path) -> Iterator[Path]:
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=parent, prefix=".resolving-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


@attrs.frozen
class Resolution:
    """The wheels of one resolution, cached under ``directory``."""

    directory: Path
    packages: list[PinnedPackage]
    cached: bool

    def copy_into(self, wheelhouse: Path) -> None:
        """Put the wheels into a bundle's wheelhouse (hard links where the file system allows)."""
        wheelhouse.mkdir(parents=True, exist_ok=True)
        for package in self.packages:
            _link_or_copy(self.directory / package.filename, wheelhouse / package.filename)


def resolve(
    requirements: list[str],
    target: Target,
    cache: Path,
    *,
    refresh: bool = False,
    progress: Progress = lambda _: None,
) -> Resolution:
    """Resolve ``requirements`` plus drucker and its dependencies into wheels for ``target``.

    A cached resolution with the same key is reused unless ``refresh`` is set.

    :raises ConfigurationError: when pip cannot resolve them, or a wheel does not fit the target.
    """
    own = drucker_wheel(cache)
    key = resolution_key(requirements, target, sha256_file(own), index_settings())
    directory = cache / "resolutions" / key[:32]
    pins = directory / PINS_FILE
    if pins.is_file() and not refresh:
        packages = _converter.structure(
            json.loads(pins.read_text(encoding="utf-8")), list[PinnedPackage]
        )
        if all((directory / p.filename).is_file() for p in packages):
            progress(f"requirements resolved before for {target.describe()}: reusing the wheels")
            return Resolution(directory, packages, cached=True)
    progress(f"resolving the requirements for {target.describe()}")
    with _fresh_directory(directory.parent) as staged:
        shutil.copyfile(own, staged / own.name)
        _run_pip_with_progress(
            ["download", *target.pip_args(), "-d", str(staged), str(own), *requirements],
            "resolving the requirements (pip download)",
            progress,
        )
        packages = pin(staged)
        target.check_wheels([p.filename for p in packages])
        text = json.dumps(_converter.unstructure(packages), indent=1, sort_keys=True)
        (staged / PINS_FILE).write_text(text + "\n", encoding="utf-8")
        shutil.rmtree(directory, ignore_errors=True)
        os.replace(staged, directory)
    progress(f"resolved {len(packages)} packages")
    return Resolution(directory, packages, cached=False)

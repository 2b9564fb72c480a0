"""The interpreter and platform a bundle's wheels are resolved for: the image's, not the host's.

A target is CPython ``X.Y`` on ``linux/amd64`` or ``linux/arm64`` with a glibc version; it gives
the ``pip download`` flags that select wheels for it and the wheel tags it can install.
"""

from __future__ import annotations

import re

import attrs
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

from drucker.errors import ConfigurationError

PLATFORMS = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
DEFAULT_PLATFORM = "linux/amd64"
# Debian bookworm, the base of the default image; older manylinux wheels install on it too.
DEFAULT_GLIBC = "2.36"
OLDEST_MANYLINUX_MINOR = 5
_PYTHON = re.compile(r"3\.(\d{1,2})")
_GLIBC = re.compile(r"2\.(\d{1,2})")


@attrs.frozen
class Target:
    """CPython ``python`` (e.g. ``"3.11"``) on ``platform`` (``linux/amd64`` or ``linux/arm64``)."""

    python: str
    platform: str = DEFAULT_PLATFORM
    glibc: str = DEFAULT_GLIBC

    def __attrs_post_init__(self) -> None:
        if not _PYTHON.fullmatch(self.python):
            raise ConfigurationError(f"python: {self.python!r} is not a version like 3.11")
        if self.platform not in PLATFORMS:
            raise ConfigurationError(
                f"platform: {self.platform!r} is not one of {', '.join(sorted(PLATFORMS))}"
            )
        if not _GLIBC.fullmatch(self.glibc):
            raise ConfigurationError(f"glibc: {self.glibc!r} is not a version like 2.36")

    @property
    def machine(self) -> str:
        """The wheel tags' name of the CPU architecture."""
        return PLATFORMS[self.platform]

    @property
    def python_tuple(self) -> tuple[int, int]:
        major, minor = self.python.split(".")
        return int(major), int(minor)

    def platform_tags(self) -> list[str]:
        """Wheel platform tags the target installs, most specific first."""
        newest = int(self.glibc.split(".")[1])
        tags = [
            f"manylinux_2_{minor}_{self.machine}"
            for minor in range(newest, OLDEST_MANYLINUX_MINOR - 1, -1)
        ]
        # The legacy aliases of manylinux_2_17 (2014) and, on x86-64, 2_12 (2010) and 2_5 (1).
        tags.append(f"manylinux2014_{self.machine}")
        if self.machine == "x86_64":
            tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
        return [*tags, f"linux_{self.machine}"]

    def tags(self) -> frozenset[Tag]:
        """Every wheel tag the target's interpreter accepts."""
        version = self.python_tuple
        platforms = self.platform_tags()
        return frozenset(
            [
                *cpython_tags(version, platforms=platforms),
                *compatible_tags(version, f"cp{version[0]}{version[1]}", platforms),
            ]
        )

    def pip_args(self) -> list[str]:
        """``pip download`` flags that resolve for this target instead of the running host."""
        major, minor = self.python_tuple
        args = [
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            f"{major}.{minor}",
            "--abi",
            f"cp{major}{minor}",
            "--abi",
            "abi3",
            "--abi",
            "none",
        ]
        for tag in self.platform_tags():
            args += ["--platform", tag]
        return args

    def check_wheels(self, filenames: list[str]) -> None:
        """:raises ConfigurationError: naming a wheel this target cannot install."""
        accepted = self.tags()
        for filename in filenames:
            _, _, _, wheel_tags = parse_wheel_filename(filename)
            if not wheel_tags & accepted:
                raise ConfigurationError(
                    f"{filename} does not install on Python {self.python} {self.platform}"
                )

    def describe(self) -> str:
        return f"CPython {self.python} on {self.platform} (glibc {self.glibc})"

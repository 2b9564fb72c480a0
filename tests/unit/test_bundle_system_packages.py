"""``system_packages:`` in bundle.yaml, the manifest and the Dockerfile (issue 27.1)."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from drucker.bundle import dockerfile
from drucker.bundle.build import assemble
from drucker.bundle.manifest import Manifest, recipe
from drucker.bundle.spec import load_spec
from drucker.bundle.store import BundleStore
from drucker.bundle.system_packages import DebianPackage, sums_file
from drucker.bundle.target import Target
from drucker.errors import ConfigurationError

GOMP = DebianPackage("libgomp1", "12.2.0-14", "amd64", "libgomp1_12.2.0-14_amd64.deb", "a" * 64)


def write_project(root: Path, extra: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "plugin.py").write_text("import drucker\n")
    (root / "bundle.yaml").write_text(f"name: gomp\nplugin: plugin.py\n{extra}")
    return root


def manifest(**changes: object) -> Manifest:
    plain = Manifest(
        name="gomp",
        version="1",
        digest="d" * 64,
        created="2026-01-01T00:00:00Z",
        drucker_version="1",
        plugin="app/plugin.py",
        model=None,
        settings="app/settings.yml",
        port=5000,
        base_image="drucker-base:bookworm-py311",
        env={},
        labels={},
        packages=[],
        files={},
    )
    return attrs.evolve(plain, **changes)


def test_system_packages_are_debian_names(tmp_path: Path) -> None:
    spec = load_spec(write_project(tmp_path, "system_packages: [libgomp1, libstdc++6]\n"))
    assert spec.system_packages == ["libgomp1", "libstdc++6"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[LibGomp]", "'LibGomp' is not a Debian package name"),
        ("['libgomp1; rm -rf /']", "is not a Debian package name"),
        ("libgomp1", "key 'system_packages'"),
        ("[1]", "key 'system_packages'"),
    ],
)
def test_a_bad_system_package_names_the_key_and_file(
    tmp_path: Path, value: str, message: str
) -> None:
    write_project(tmp_path, f"system_packages: {value}\n")
    with pytest.raises(ConfigurationError) as caught:
        load_spec(tmp_path)
    assert message in str(caught.value)
    assert str(tmp_path / "bundle.yaml") in str(caught.value)


@pytest.mark.parametrize(("value", "expected"), [('"10, 10"', "10, 10"), ("[1, 2.5]", [1, 2.5])])
def test_a_smoke_input_is_a_string_or_numbers(tmp_path: Path, value: str, expected: object) -> None:
    assert load_spec(write_project(tmp_path, f"smoke_input: {value}\n")).smoke_input == expected


@pytest.mark.parametrize("value", ["[]", "[true]", "{a: 1}", "[a, 1]"])
def test_another_smoke_input_names_the_key(tmp_path: Path, value: str) -> None:
    write_project(tmp_path, f"smoke_input: {value}\n")
    with pytest.raises(ConfigurationError, match=r"smoke_input.*a string or a list of numbers"):
        load_spec(tmp_path)


def test_without_the_base_image_they_are_refused_before_anything_is_stored(
    tmp_path: Path,
) -> None:
    project = write_project(tmp_path / "p", "system_packages: [libgomp1]\nrequirements: []\n")
    store = BundleStore(tmp_path / "store")
    with pytest.raises(ConfigurationError, match="without --no-image"):
        assemble(project, store, target=Target("3.11"))
    assert store.list() == []


def test_the_image_checks_and_installs_them_before_the_python_layers() -> None:
    text = dockerfile.render(manifest(system_packages=[GOMP]), "gomp:deps-0")
    install = text.index("dpkg --install")
    assert text.index("sha256sum --check") < install < text.index("COPY --from=dependencies")
    assert "COPY system/" in text
    assert "dpkg" not in dockerfile.render(manifest(), "gomp:deps-0")
    assert sums_file([GOMP]) == f"{'a' * 64}  libgomp1_12.2.0-14_amd64.deb\n"


def test_they_enter_the_digest_and_bundles_without_them_keep_theirs() -> None:
    plain = recipe(manifest())
    assert "system_packages" not in plain  # digests of bundles stored before stay valid
    with_gomp = recipe(manifest(system_packages=[GOMP]))
    assert with_gomp["system_packages"][0]["sha256"] == "a" * 64

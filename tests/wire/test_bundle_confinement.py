"""``bundle build`` takes only the project's own regular files, bounded, and fails cleanly.

No Docker needed: every refusal happens before the image build (and before any resolution).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner, Result

import drucker.bundle.build as build_module
from drucker.bundle.build import assemble
from drucker.bundle.files import ProjectFiles
from drucker.bundle.spec import load_spec
from drucker.bundle.store import STAGING, BundleStore
from drucker.bundle.target import Target
from drucker.cli import main
from drucker.errors import ConfigurationError
from tests.conftest import REPO


def project_with(directory: Path, spec: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "plugin.py").write_text("import drucker\n")
    (directory / "bundle.yaml").write_text(textwrap.dedent(spec))
    return directory


def build(project: Path, store: Path, *options: str) -> Result:
    return CliRunner().invoke(
        main,
        [
            *("bundle", "build", str(project), "--no-image", "--python", "3.11"),
            *("--store", str(store), *options),
        ],
    )


def refused(result: Result, *expected: str) -> str:
    """The one line a refused build printed, checked for exit 2 and the expected words."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("drucker bundle: "), result.stderr
    for text in expected:
        assert text in lines[0]
    return lines[0]


def test_an_include_that_climbs_out_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside-file").write_text("not the project's")
    project = project_with(
        tmp_path / "project", "name: x\nplugin: plugin.py\ninclude: ['../outside-file']\n"
    )
    refused(
        build(project, tmp_path / "store"), "key 'include'", "../outside-file", "inside the project"
    )


def test_an_include_three_folders_down_writes_nothing_outside_its_bundle(tmp_path: Path) -> None:
    project = project_with(
        tmp_path / "w" / "x" / "y",
        "name: x\nplugin: plugin.py\ninclude: ['../../../planted.txt']\n",
    )
    (tmp_path / "planted.txt").write_text("planted")
    store = tmp_path / "store"
    refused(build(project, store), "../../../planted.txt", "inside the project")
    assert not (store / "planted.txt").exists()  # staged/app/../../../ is the store's root


@pytest.mark.parametrize("key", ["model", "settings", "plugin", "include"])
def test_a_symlink_that_leads_out_is_refused_for_every_key(tmp_path: Path, key: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("AWS_SECRET_ACCESS_KEY=hunter2\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "link").symlink_to(secret)
    value = {"plugin": "plugin.py", key: "link"}
    if key == "include":
        value["include"] = "['link']"
    if key == "plugin":
        (project / "link").unlink()
        (project / "link.py").symlink_to(secret)
        value["plugin"] = "link.py"
    text = "name: x\n" + "".join(f"{k}: {v}\n" for k, v in value.items())
    project_with(project, "")
    (project / "bundle.yaml").write_text(text)
    if key == "plugin":
        (project / "plugin.py").unlink()
    line = refused(build(project, tmp_path / "store"), f"key {key!r}", "leads outside the project")
    assert "hunter2" not in line
    assert (
        not list((tmp_path / "store").rglob("secret*")) if (tmp_path / "store").exists() else True
    )


def test_a_link_into_a_directory_outside_is_refused_inside_an_included_tree(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "id_rsa").write_text("PRIVATE")
    project = project_with(tmp_path / "project", "name: x\nplugin: plugin.py\ninclude: ['data']\n")
    (project / "data" / "nested").mkdir(parents=True)
    (project / "data" / "nested" / "keys").symlink_to(outside)
    refused(build(project, tmp_path / "store"), "data/nested/keys", "leads outside the project")


def test_a_model_linked_to_dev_zero_is_refused_at_once(tmp_path: Path) -> None:
    project = project_with(tmp_path / "project", "name: x\nplugin: plugin.py\nmodel: model.bin\n")
    (project / "model.bin").symlink_to("/dev/zero")
    refused(build(project, tmp_path / "store"), "key 'model'", "model.bin", "outside the project")
    assert not any((tmp_path / "store").rglob("model.bin"))


def test_a_symlinked_directory_loop_is_one_line_not_a_recursion_error(tmp_path: Path) -> None:
    project = project_with(tmp_path / "project", "name: x\nplugin: plugin.py\ninclude: ['lib']\n")
    (project / "lib").mkdir()
    (project / "lib" / "helpers.py").write_text("")
    (project / "lib" / "again").symlink_to("..")  # lib/again -> project -> lib -> ...
    refused(build(project, tmp_path / "store"), "key 'include'", "symlinked directory loop")


def test_a_fifo_model_is_one_line_not_a_special_file_error(tmp_path: Path) -> None:
    project = project_with(tmp_path / "project", "name: x\nplugin: plugin.py\nmodel: model.fifo\n")
    os.mkfifo(project / "model.fifo")
    refused(build(project, tmp_path / "store"), "key 'model'", "model.fifo is a FIFO")


def test_files_over_the_size_limit_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = project_with(tmp_path / "project", "name: x\nplugin: plugin.py\nmodel: model.bin\n")
    (project / "model.bin").write_bytes(b"\0" * (2 << 20))
    line = refused(build(project, tmp_path / "store", "--max-file-size", "1MiB"), "model.bin")
    assert "2 MiB, over the limit of 1 MiB" in line and "--max-file-size" in line
    monkeypatch.setenv("DRUCKER_BUNDLE_MAX_FILE_SIZE", "1M")
    refused(build(project, tmp_path / "store"), "over the limit of 1 MiB")
    assert load_spec(project, 4 << 20).model == "model.bin"
    refused(build(project, tmp_path / "store", "--max-file-size", "lots"), "'lots' is not a size")


def test_links_that_stay_inside_the_project_are_taken_as_files(tmp_path: Path) -> None:
    project = project_with(
        tmp_path / "project", "name: x\nplugin: plugin.py\nmodel: current\ninclude: ['lib']\n"
    )
    (project / "models").mkdir()
    (project / "models" / "v1.bin").write_bytes(b"model")
    (project / "current").symlink_to("models/v1.bin")
    (project / "lib").mkdir()
    (project / "lib" / "shared").symlink_to("../models")
    files = ProjectFiles(project, "bundle.yaml", 1 << 20)
    assert [p.relative_to(project).as_posix() for p in files.files("include", project / "lib")] == [
        "lib/shared/v1.bin"
    ]
    assert load_spec(project).model == "current"


class _NoWheels:
    """A resolution without packages, so that a test needs neither index nor network."""

    packages: ClassVar[list[Any]] = []

    def copy_into(self, directory: Path) -> None:
        directory.mkdir(parents=True)


def test_a_build_failing_while_copying_leaves_nothing_in_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = project_with(tmp_path / "project", "name: x\nplugin: plugin.py\nmodel: model.bin\n")
    (project / "model.bin").write_bytes(b"model")
    real_load = load_spec

    def swap_model_for_a_fifo(project: Path, limit: int | None = None) -> Any:
        spec = real_load(project, limit)
        (project / "model.bin").unlink()
        os.mkfifo(project / "model.bin")  # after the checks, before the copy
        return spec

    monkeypatch.setattr(build_module, "load_spec", swap_model_for_a_fifo)
    monkeypatch.setattr(build_module, "resolve", lambda *a, **k: _NoWheels())
    store = BundleStore(tmp_path / "store")
    with pytest.raises(ConfigurationError, match=r"model\.bin is a FIFO"):
        assemble(project, store, target=Target("3.11"))
    assert [p.name for p in (store.root / STAGING).iterdir()] == [".lock"]


_HOLDER = """
import sys, time
from pathlib import Path
from drucker.bundle.store import BundleStore
with BundleStore(Path(sys.argv[1])).staging() as staged:
    (staged / "model.bin").write_bytes(b"0" * 1024)
    print(staged, flush=True)
    time.sleep(600)
"""


def _hold_staging(root: Path) -> tuple[subprocess.Popen[str], Path]:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(root)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_staging_left_by_a_killed_build_is_removed_but_a_live_one_is_kept(tmp_path: Path) -> None:
    store = BundleStore(tmp_path / "store")
    killed, orphan = _hold_staging(store.root)
    live, in_use = _hold_staging(store.root)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        assert orphan.is_dir()  # what a killed build left
        with store.staging() as mine:
            remaining = {p for p in (store.root / STAGING).iterdir() if p.name != ".lock"}
            assert remaining == {in_use, mine}
    finally:
        live.kill()
        live.wait(10)

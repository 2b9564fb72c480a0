"""`pip install 'drucker[s3]'`, then the packages users add beside it, leave `pip check` clean."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

from tests.conftest import REPO


def _pip(environment: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(environment / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_s3_extra_then_boto3_and_moto_keep_pip_check_clean(tmp_path: Path) -> None:
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    installed = _pip(environment, "install", "-q", f"{REPO}[s3]")
    assert installed.returncode == 0, installed.stderr[-3000:]
    for added in ("boto3", "moto[server]"):
        step = _pip(environment, "install", "-q", added)
        assert step.returncode == 0, step.stderr[-3000:]
        check = _pip(environment, "check")
        assert check.returncode == 0, f"after pip install {added}:\n{check.stdout}{check.stderr}"
    imported = subprocess.run(
        [str(environment / "bin" / "python"), "-c", "import s3fs, boto3, drucker.store"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr

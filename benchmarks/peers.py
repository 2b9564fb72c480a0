"""The peers' virtualenvs, outside the repository, installed on first use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HOME = Path(os.environ.get("DRUCKER_BENCH_HOME", Path.home() / ".cache" / "drucker-bench"))
DRUCKER045_VENV = HOME / "venvs" / "drucker045"
DRUCKER045_PYTHON = DRUCKER045_VENV / "bin" / "python"
MLSERVER_VENV = HOME / "venvs" / "mlserver"
MLSERVER_BIN = MLSERVER_VENV / "bin" / "mlserver"

# drucker 0.4.5 predates SQLAlchemy 1.4 and python-json-logger 3; the rest is current.
DRUCKER045_REQUIREMENTS = [
    "drucker==0.4.5",
    "SQLAlchemy<1.4",
    "python-json-logger<3",
    "scikit-learn",
    "joblib",
]
# uvloop 0.22 dropped the implicit event loop that MLServer 1.7.1's inference workers rely on.
MLSERVER_REQUIREMENTS = [
    "mlserver==1.7.1",
    "mlserver-sklearn==1.7.1",
    "uvloop<0.22",
    "scikit-learn",
    "joblib",
]


def _venv(path: Path, requirements: list[str]) -> None:
    """Create the virtualenv once per list of requirements (a changed list reinstalls)."""
    marker = path / "drucker-bench-requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    if marker.exists() and marker.read_text() == wanted:
        return
    print(f"installing {' '.join(requirements)} into {path}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    subprocess.run(
        [str(path / "bin" / "pip"), "install", "--quiet", *requirements],
        check=True,
    )
    marker.write_text(wanted)


def ensure_drucker045() -> None:
    """The original drucker's virtualenv."""
    _venv(DRUCKER045_VENV, DRUCKER045_REQUIREMENTS)


def ensure_mlserver() -> None:
    """Seldon MLServer's virtualenv."""
    _venv(MLSERVER_VENV, MLSERVER_REQUIREMENTS)

"""How long `drucker bundle build` takes: first build, unchanged rebuild, model-only change.

python -m benchmarks.bundle_build [--base-image IMAGE] [--repetitions N]

Each build is the real command in its own process (interpreter start-up included), with the
iris example project and a fresh bundle store in a temporary directory. Targets: a no-op
build under 2 s, a model-only change under 10 s. Needs a Docker engine and a local base image
(`.ci/setup.d/10-docker.sh` makes drucker-base:bookworm-py311).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NO_OP_TARGET_S = 2.0
MODEL_ONLY_TARGET_S = 10.0


def _build(project: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "drucker", "bundle", "build", str(project)],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"build failed:\n{result.stderr[-2000:]}")
    return seconds, result.stdout.strip().splitlines()[-1]


def _remove_images(tags: list[str]) -> None:
    for tag in tags:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", default="drucker-base:bookworm-py311")
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    from drucker_sklearn.demo import train_iris

    with tempfile.TemporaryDirectory(prefix="drucker-bundle-bench-") as workdir:
        root = Path(workdir)
        project = root / "iris"
        project.mkdir()
        for name in ("bundle.yaml", "settings.yml"):
            shutil.copy(REPO / "examples" / "iris" / name, project / name)
        model = train_iris(project / "model" / "iris" / "iris.joblib")
        env = {
            **os.environ,
            "DRUCKER_BUNDLE_STORE": str(root / "store"),
            "DRUCKER_BASE_IMAGE": args.base_image,
        }
        tags: list[str] = []
        try:
            first, tag = _build(project, env)
            tags.append(tag)
            no_op = []
            model_only = []
            for repetition in range(args.repetitions):
                seconds, again = _build(project, env)
                assert again == tag, (again, tag)
                no_op.append(seconds)
                model.write_bytes(model.read_bytes() + bytes([repetition]))
                seconds, changed = _build(project, env)
                assert changed not in tags
                tags.append(changed)
                tag = changed
                model_only.append(seconds)
        finally:
            _remove_images(tags)
    no_op_s, model_only_s = statistics.median(no_op), statistics.median(model_only)
    print(f"first build (resolve, download, install, image): {first:.1f} s")
    print(f"no-op build, median of {len(no_op)}: {no_op_s:.2f} s ({_each(no_op)})")
    print(
        f"model-only change, median of {len(model_only)}: {model_only_s:.2f} s "
        f"({_each(model_only)})"
    )
    for name, value, bound in (
        ("no-op build", no_op_s, NO_OP_TARGET_S),
        ("model-only change", model_only_s, MODEL_ONLY_TARGET_S),
    ):
        verdict = "met" if value < bound else "NOT met"
        print(f"target {name} < {bound:g} s: {verdict} ({value / bound:.2f} of the bound)")


def _each(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()

"""``drucker bundle init``: the files of a new model project, ready to serve and to bundle."""

from __future__ import annotations

from pathlib import Path

from drucker.bundle.spec import SPEC_FILE, validate_bundle_name
from drucker.errors import AlreadyExistsError

_BUNDLE_YAML = """\
# The bundle of this project: `drucker bundle build` makes the image {name}:VERSION from it.
name: {name}
plugin: plugin.py
model: model/{name}/model.json
settings: settings.yml
requirements: requirements.txt
# include: ["data/*.csv"]        # more files the plugin reads, copied next to it
# base_image: python:3.11-slim   # an image with python3; default: $DRUCKER_BASE_IMAGE
# python: "3.11"                 # default: read from the base image
# platform: linux/amd64          # or linux/arm64
# port: 5000
"""

_PLUGIN = '''\
"""The model plugin of {name}: how to load the model file and answer one prediction.

Serve it here with `drucker serve --plugin plugin.py --settings settings.yml`, then ask it
with `drucker predict '"some text"'`. Replace the two functions with your model's code.
"""

from __future__ import annotations

import json
from typing import Any

import drucker


@drucker.hookimpl
def drucker_load_model(model_path: str) -> Any:
    """Read the model file; raise to refuse a file that is not a usable model."""
    with open(model_path, encoding="utf-8") as handle:
        model = json.load(handle)
    if "label" not in model:
        raise ValueError(f"{{model_path}} has no 'label'")
    return model


@drucker.hookimpl
def drucker_predict(model: Any, input: Any, option: dict[str, Any]) -> drucker.PredictResult:
    """Answer one input; raise ValueError to refuse it (the caller gets INVALID_ARGUMENT)."""
    return drucker.PredictResult(label=model["label"], score=float(model.get("score", 1.0)))
'''

_MODEL = '{"label": "hello", "score": 1.0}\n'

_SETTINGS = """\
# Drucker settings: the model is read from <app.modeldir>/<app.name>/<app.modelfile>.
app.name: {name}
app.port: 5000
app.service.name: {name}-dev
app.service.level: development
app.modeldir: ./model
app.modelfile: model.json
app.evaldir: ./eval
"""

_REQUIREMENTS = "# The plugin's Python requirements, one per line (drucker itself is added).\n"


def files_for(name: str) -> dict[str, str]:
    """The relative paths and contents of a new project named ``name``."""
    validate_bundle_name(name)
    return {
        SPEC_FILE: _BUNDLE_YAML.format(name=name),
        "plugin.py": _PLUGIN.format(name=name),
        f"model/{name}/model.json": _MODEL,
        "settings.yml": _SETTINGS.format(name=name),
        "requirements.txt": _REQUIREMENTS,
    }


def init_project(directory: Path, name: str | None = None) -> list[Path]:
    """Write the starting files into ``directory``; the name defaults to the directory's.

    :raises AlreadyExistsError: naming the files that exist, before anything is written.
    """
    directory = directory.resolve()
    name = name or directory.name.lower().replace(" ", "-")
    files = files_for(name)
    existing = [path for path in files if (directory / path).exists()]
    if existing:
        raise AlreadyExistsError(
            f"{directory} already has {', '.join(existing)}: nothing was written"
        )
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written

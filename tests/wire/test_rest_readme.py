"""The README's V2 REST ``curl`` examples, run as written against ``drucker serve``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.serving import ServeProcess, free_port

SECTION = "### V2 over HTTP (REST)"


def readme_examples() -> list[tuple[str, str]]:
    """(command, documented start of its output) for each curl line of the section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the V2 REST section has no sh block"
    examples: list[tuple[str, str]] = []
    for line in block.group(1).splitlines():
        if line.startswith("curl "):
            examples.append((line, ""))
        elif line.startswith("# ") and examples:
            examples[-1] = (examples[-1][0], line[2:].removesuffix("..."))
    return examples


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_examples(tmp_path: Path, iris_model: Path) -> None:
    examples = readme_examples()
    assert len(examples) == 3
    port, http_port = free_port(), free_port()
    server = ServeProcess(
        ["--plugin", "drucker_sklearn", "--model", str(iris_model), "--port", str(port)],
        cwd=tmp_path,
        env={"DRUCKER_APPLICATION_NAME": "iris", "DRUCKER_HTTP_PORT": str(http_port)},
    )
    try:
        server.wait_serving(port)
        for command, documented in examples:
            here = command.replace("localhost:8080", f"127.0.0.1:{http_port}")
            done = subprocess.run(
                ["bash", "-c", here], capture_output=True, text=True, timeout=30, check=True
            )
            assert documented, f"no documented output for {command}"
            assert done.stdout.startswith(documented), (command, done.stdout)
            json.loads(done.stdout)
    finally:
        assert server.terminate() == 0
    assert f"V2 REST on HTTP port {http_port}" in server.stderr

"""Generate the blocking client from the asyncio one (``nox -s unasync``).

    python tools/unasync.py           # rewrite drucker/client/_sync.py
    python tools/unasync.py --check   # exit 1 when the committed file is stale

The async client (``drucker/client/aio.py``) is the only one written by hand; the blocking
client is the same code with the awaits taken out, as httpcore generates its sync twin with
unasync. The rewrite works on words, not on a syntax tree: each rule below names an async
word and its blocking twin, so the source must use them plainly (``await x``, ``async for``,
``grpc.aio.``, ``__aiter__``). ``tests/unit/test_client_generated.py`` fails when the
committed file differs from :func:`generate`'s output.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "drucker" / "client" / "aio.py"
TARGET = REPO / "drucker" / "client" / "_sync.py"
TRAFFIC_SOURCE = REPO / "drucker" / "client" / "aio_traffic.py"
TRAFFIC_TARGET = REPO / "drucker" / "client" / "_sync_traffic.py"
REPOSITORY_SOURCE = REPO / "drucker" / "client" / "aio_repository.py"
REPOSITORY_TARGET = REPO / "drucker" / "client" / "_sync_repository.py"

HEADER = (
    "# Generated from drucker/client/aio.py by tools/unasync.py (`nox -s unasync`).\n"
    "# Do not edit: change aio.py and regenerate; tests/unit/test_client_generated.py checks it.\n"
)
TRAFFIC_HEADER = HEADER.replace("aio.py", "aio_traffic.py")
REPOSITORY_HEADER = (
    "# Generated from drucker/client/aio_repository.py by tools/unasync.py (`nox -s unasync`).\n"
    "# Do not edit: change aio_repository.py and regenerate; test_client_generated.py checks it.\n"
)

# Module docstring of the generated file (the source's describes the async client).
DOCSTRING = '"""The blocking client, :class:`Client`, generated from :mod:`drucker.client.aio`."""'
TRAFFIC_DOCSTRING = (
    '"""The traffic methods of :class:`Client`, generated from '
    ':mod:`drucker.client.aio_traffic`."""'
)
REPOSITORY_DOCSTRING = (
    '"""The model repository methods of :class:`Client`, generated from\n'
    ':mod:`drucker.client.aio_repository`."""'
)
# (source, target, docstring of the target) of every generated file.
PAIRS = (
    (SOURCE, TARGET, DOCSTRING, HEADER),
    (TRAFFIC_SOURCE, TRAFFIC_TARGET, TRAFFIC_DOCSTRING, TRAFFIC_HEADER),
    (REPOSITORY_SOURCE, REPOSITORY_TARGET, REPOSITORY_DOCSTRING, REPOSITORY_HEADER),
)

# Whole lines that have no blocking twin.
DROPPED_LINES = ("import grpc.aio",)

# (pattern, replacement), applied in order; ``\b`` keeps them to whole words.
WORDS: tuple[tuple[str, str], ...] = (
    (r"\basync def\b", "def"),
    (r"\basync for\b", "for"),
    (r"\basync with\b", "with"),
    (r"\bawait ", ""),
    (r"\bAsyncClient\b", "Client"),
    (r"\bAsyncTrafficMethods\b", "TrafficMethods"),
    (r"\baio_traffic\b", "_sync_traffic"),
    (r"\bAsyncRepositoryMethods\b", "RepositoryMethods"),
    (r"\baio_repository\b", "_sync_repository"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAsyncIterable\b", "Iterable"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\bgrpc\.aio\.", "grpc."),
    (r"(?m)^import asyncio$", "import time"),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"\ban async iterator\b", "an iterator"),
)

# ``for x in xs: yield x`` becomes ``yield from xs`` (async generators have no ``yield from``).
_YIELD_EACH = re.compile(
    r"^(?P<indent>[ \t]*)for (?P<name>\w+) in (?P<source>[^\n]+):\n"
    r"(?P=indent)[ \t]+yield (?P=name)\n",
    re.MULTILINE,
)
_FROM_IMPORT = re.compile(r"^(?P<head>from [\w.]+ import )(?P<names>[\w, ]+)$", re.MULTILINE)
_MODULE_DOCSTRING = re.compile(r'\A"""(?:.|\n)*?"""', re.MULTILINE)


def _unique_names(match: re.Match[str]) -> str:
    """``from m import Iterator, Iterator`` (two words that became one) keeps one name."""
    names = dict.fromkeys(name.strip() for name in match["names"].split(","))
    return match["head"] + ", ".join(names)


def generate(source: str, docstring: str = DOCSTRING, header: str = HEADER) -> str:
    """The blocking twin of the async client's source text (``docstring`` its docstring)."""
    lines = [line for line in source.splitlines(keepends=True) if line.strip() not in DROPPED_LINES]
    text = "".join(lines)
    for pattern, replacement in WORDS:
        text = re.sub(pattern, replacement, text)
    text = _YIELD_EACH.sub(r"\g<indent>yield from \g<source>\n", text)
    text = _FROM_IMPORT.sub(_unique_names, text)
    text, replaced = _MODULE_DOCSTRING.subn(docstring, text, count=1)
    if not replaced:
        raise ValueError("the async client has no module docstring to replace")
    return header + text


def main(argv: list[str]) -> int:
    stale = 0
    for source, target, docstring, header in PAIRS:
        fresh = generate(source.read_text(encoding="utf-8"), docstring, header)
        if argv[1:] == ["--check"]:
            if not target.exists() or target.read_text(encoding="utf-8") != fresh:
                print(f"{target.relative_to(REPO)} is stale: run `nox -s unasync`", file=sys.stderr)
                stale = 1
            continue
        target.write_text(fresh, encoding="utf-8")
        print(f"wrote {target.relative_to(REPO)}")
    return stale


if __name__ == "__main__":
    sys.exit(main(sys.argv))

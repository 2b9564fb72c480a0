"""Files streamed in by the browser or a script, then pushed to services.

The request body goes to a temporary file chunk by chunk (hashed on the way), so memory stays
bounded whatever the size; the services then read it from disk through the client SDK.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

import drucker.dashboard.inputs as inputs
import drucker.dashboard.operations as operations
import drucker.dashboard.queries as queries
from drucker.dashboard.web import Viewer, in_thread, state

READ_CHUNK = 1024 * 1024


@asynccontextmanager
async def received_file(request: Request, directory: Path) -> AsyncIterator[tuple[Path, str, int]]:
    """Stream the request body to a temporary file, hashing it; yield (path, sha256, size).

    Memory stays at one chunk whatever the size; the file is removed afterwards.
    """
    digest = hashlib.sha256()
    size = 0
    descriptor, name = tempfile.mkstemp(dir=directory, prefix="upload-")
    path = Path(name)
    try:
        with open(descriptor, "wb") as handle:
            buffered: list[bytes] = []
            buffered_size = 0
            async for chunk in request.stream():
                digest.update(chunk)
                size += len(chunk)
                buffered.append(chunk)
                buffered_size += len(chunk)
                if buffered_size >= READ_CHUNK:
                    await run_in_threadpool(handle.write, b"".join(buffered))
                    buffered, buffered_size = [], 0
            if buffered:
                await run_in_threadpool(handle.write, b"".join(buffered))
        yield path, digest.hexdigest(), size
    finally:
        path.unlink(missing_ok=True)


async def receive_and_push(
    request: Request,
    user: Viewer,
    name: str,
    service_ids: list[int],
    description: str,
    job: str,
) -> JSONResponse:
    app_state = state(request)
    if not service_ids:
        return JSONResponse({"detail": "choose at least one service"}, 400)
    if not re.fullmatch(inputs.NAME_PATTERN, name):
        return JSONResponse({"detail": inputs.NAME_RULE}, 400)
    for service_id in service_ids:
        queries.service(app_state.db, service_id)  # 404 before reading the body
    service_ids = list(dict.fromkeys(service_ids))
    job = job[:64] or secrets.token_hex(8)
    async with received_file(request, app_state.upload_dir) as (path, sha256, size):
        progress = operations.UploadProgress(total=size)
        app_state.uploads[job] = progress
        try:
            outcomes = await in_thread(
                operations.upload_model,
                app_state.db,
                user.name,
                service_ids,
                path,
                name,
                sha256,
                description[:2000],
                progress,
            )
        finally:
            asyncio.get_running_loop().call_later(60, app_state.uploads.pop, job, None)
    body = {
        "name": name,
        "sha256": sha256,
        "size": size,
        "outcomes": [
            {"service_id": o.service_id, "address": o.address, "ok": o.ok, "message": o.message}
            for o in outcomes
        ],
    }
    return JSONResponse(body, 200 if all(o.ok for o in outcomes) else 502)

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
from drucker.dashboard.errors import Refused
from drucker.dashboard.web import State, Viewer, in_thread, state

READ_CHUNK = 1024 * 1024


JOB_SECONDS = 600  # an issued progress id not used by then is forgotten


def issue_job(app_state: State, user: Viewer) -> str:
    """A new progress id for ``user``'s next upload (server-chosen, bound to the user)."""
    job = secrets.token_urlsafe(12)
    app_state.uploads[job] = operations.UploadProgress(total=0, owner=user.id)
    asyncio.get_running_loop().call_later(JOB_SECONDS, _forget_unused, app_state, job)
    return job


def _forget_unused(app_state: State, job: str) -> None:
    progress = app_state.uploads.get(job)
    if progress is not None and progress.total == 0 and not progress.done:
        app_state.uploads.pop(job, None)


def progress_of(app_state: State, user: Viewer, job: str) -> operations.UploadProgress | None:
    """The progress of upload ``job`` if ``user`` started it, else ``None``."""
    progress = app_state.uploads.get(job)
    return progress if progress is not None and progress.owner == user.id else None


@asynccontextmanager
async def received_file(
    request: Request, directory: Path, limit: int
) -> AsyncIterator[tuple[Path, str, int]]:
    """Stream the request body to a temporary file, hashing it; yield (path, sha256, size).

    Memory stays at one chunk whatever the size; the file is removed afterwards.

    :raises Refused: (413) as soon as the body passes ``limit`` bytes.
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
                if size > limit:
                    raise Refused(f"the file is larger than {limit} bytes (max_upload_bytes)", 413)
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
    model: str = "",
) -> JSONResponse:
    """Receive the file, then push it to the services (to their model ``model`` on servers of
    several models: each service's default model when it is that service's application)."""
    app_state = state(request)
    if not service_ids:
        return JSONResponse({"detail": "choose at least one service"}, 400)
    if not re.fullmatch(inputs.NAME_PATTERN, name):
        return JSONResponse({"detail": inputs.NAME_RULE}, 400)
    if model and not re.fullmatch(inputs.NAME_PATTERN, model):
        return JSONResponse({"detail": f"model_name: {inputs.NAME_RULE}"}, 400)
    for service_id in service_ids:
        queries.service(app_state.db, service_id)  # 404 before reading the body
    service_ids = list(dict.fromkeys(service_ids))
    if job and progress_of(app_state, user, job) is None:
        return JSONResponse({"detail": "no such upload id: ask POST /uploads for one"}, 404)
    job = job or issue_job(app_state, user)
    limit = app_state.settings.max_upload_bytes
    async with received_file(request, app_state.upload_dir, limit) as (path, sha256, size):
        progress = operations.UploadProgress(total=size, owner=user.id)
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
                model,
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

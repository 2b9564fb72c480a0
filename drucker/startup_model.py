"""The model a server starts with: which file it is, and keeping it in the model store.

The store's active record wins over these at start (see
:meth:`drucker.management.ModelManager.load_initial`); this module knows only the configured
file: ``--model`` (a path or a store URL) or the settings' default path.
"""

from __future__ import annotations

from pathlib import Path

from drucker.errors import DruckerError, ModelLoadError
from drucker.runtime import Runtime
from drucker.settings import Settings
from drucker.store.atomic import sha256_of
from drucker.store.backends import fetch_model
from drucker.store.base import ModelStore


def configured_model(
    settings: Settings, explicit: str | None, explicit_sha256: str | None
) -> tuple[Path, str, str]:
    """The start-up model's file, name, and where it came from (for the log).

    :raises ModelLoadError: when ``explicit`` does not have ``explicit_sha256``.
    """
    if explicit is not None and "://" in explicit:
        path, source = fetch_model(settings, explicit, explicit_sha256)
        return path, Path(explicit).name, f"downloaded from {source}"
    if explicit is not None:
        path = Path(explicit)
        if explicit_sha256 and path.is_file() and sha256_of(path) != explicit_sha256.lower():
            raise ModelLoadError(f"{explicit} does not have sha256 {explicit_sha256}")
        return path, path.name, "given with --model"
    path = settings.default_model_path
    return path, path.name, "from the settings (app.modeldir/app.name/app.modelfile)"


def keep_in_store(models: ModelStore, runtime: Runtime, path: Path, name: str, sha256: str) -> None:
    """Put a ``--model`` file in the model store when it does not hold it, so the history
    and a rollback can return to it after the first switch (from any replica, on a shared
    store; a local store takes it when the first switch leaves it and, until then, lists it
    as the start-up model, outside the store).

    A stored file of that name with other bytes is left alone (a rollback to the start-up
    model then names the digest it lacks); a store that cannot be written is logged.
    """
    log = runtime.log
    try:
        held = {stored.name: stored.sha256 for stored in models.list()}
        if held.get(name) == sha256:
            return
        if name in held:
            log.warning(
                f"the store holds another {name} (sha256 {held[name][:12]}): the start-up "
                "model is not stored, so a rollback cannot return to it"
            )
            return
        limit = runtime.settings.max_upload_bytes
        with path.open("rb") as source, models.begin(name, limit) as upload:
            while chunk := source.read(1 << 20):
                upload.write(chunk)
            upload.commit(sha256)
    except (DruckerError, OSError) as error:
        log.warning(f"the start-up model {name} could not be put in the store: {error}")
        return
    log.info(f"stored the start-up model {name} in the model store", sha256=sha256)

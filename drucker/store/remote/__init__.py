"""The object-storage backend of the model store, through fsspec (S3 via s3fs, GCS via gcsfs,
``file://`` for a shared volume), so the replicas of one service share models, data, the
active-model record, the switch history and evaluation results.

Layout under ``<store.url>/<app.name>/``::

    models/objects/<sha256>     model bytes, immutable, content-addressed
    models/index.json           names -> {name, size, sha256, stored_at}
    models/active.json          the active-model record {name, sha256, generation, switched_at}
    models/history/<ns>-<id>.json  one object per switch
    data/objects/<sha256>       evaluation data, the same way
    data/index.json
    results/                    evaluation results

One job a module: :mod:`~.records` (the file system, its errors, compare-and-set records),
:mod:`~.spool` (uploads spooled to local disk), :mod:`~.files` (named files and their index),
:mod:`~.models` (the active-model record and the history), :mod:`~.results` and :mod:`~.fetch`
(a model file given by URL).

Credentials and endpoints come from the provider's standard environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``GOOGLE_APPLICATION_CREDENTIALS`` …), never
from drucker's settings.
"""

from drucker.store.remote.fetch import fetch_url
from drucker.store.remote.files import RemoteFiles
from drucker.store.remote.models import RemoteModelStore
from drucker.store.remote.records import Backend, open_backend, redact, remote_errors
from drucker.store.remote.results import RemoteResults
from drucker.store.remote.spool import RemoteUpload

__all__ = [
    "Backend",
    "RemoteFiles",
    "RemoteModelStore",
    "RemoteResults",
    "RemoteUpload",
    "fetch_url",
    "open_backend",
    "redact",
    "remote_errors",
]

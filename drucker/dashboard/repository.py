"""A service's models on a server of several (the Open Inference repository, through the client
SDK): the index the pages show, and loads and unloads, audited like the other changes."""

from __future__ import annotations

import asyncio

import grpc

import drucker.dashboard.audit as audit
import drucker.dashboard.queries as queries
from drucker.client import ClientError, RepositoryModel
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.db import Database
from drucker.dashboard.errors import Refused
from drucker.dashboard.models import Service
from drucker.dashboard.operations import Outcome

LOAD_TIMEOUT = 600.0
# The service's refusals the dashboard passes on with their meaning (others: 502, it failed).
REFUSALS = {
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
}


def model_key(service: Service, model: str) -> str:
    """How the dashboard keeps ``model`` of ``service``: ``""`` for its default model (the
    application it was registered with, which a client naming no model reaches)."""
    return "" if model == service.application else model


async def index(endpoint: Endpoint, wait: float) -> list[RepositoryModel]:
    """Every model of the service with its state and serving version.

    :raises Refused: (502) when the service does not answer in ``wait`` seconds or refuses.
    """
    try:
        async with endpoint.async_client(wait) as client:
            return await asyncio.wait_for(client.repository_index(), wait)
    except (ClientError, TimeoutError) as error:
        raise Refused(f"{endpoint.address}: {error or 'no answer in time'}", 502) from None


def load(db: Database, user: str, service_id: int, model: str) -> Outcome:
    """Load (or reload) the stored model ``model`` on one service; audited.

    :raises Refused: (404, 409, 422) when the service refuses it: it does not hold the model,
        another load or unload of it is under way, it may not be unloaded, the name is bad.
    """
    return _repository_change(db, user, queries.service(db, service_id), model, "load")


def unload(db: Database, user: str, service_id: int, model: str) -> Outcome:
    """Stop serving ``model`` on one service (its requests in flight finish); audited."""
    return _repository_change(db, user, queries.service(db, service_id), model, "unload")


def _repository_change(db: Database, user: str, service: Service, model: str, verb: str) -> Outcome:
    try:
        with Endpoint.of(service).client(timeout=LOAD_TIMEOUT) as client:
            if verb == "load":
                client.load_model(model)
            else:
                client.unload_model(model)
        ok, message = True, f"{model} {verb}ed"
        refusal = None
    except ClientError as error:
        ok, message = False, str(error)
        refusal = REFUSALS.get(error.code) if error.code is not None else None
    with db.session() as session:
        audit.on_service(
            session, user, f"{verb} model", service, model, after=model, ok=ok, message=message
        )
    if refusal is not None:
        raise Refused(f"{service.address}: {message}", refusal)
    return Outcome(service.id, service.address, ok, message)

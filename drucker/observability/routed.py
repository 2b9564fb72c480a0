"""The model the current rpc was routed to, for the per-rpc series' ``model`` label.

The dispatcher of a model (every prediction of every protocol passes through one) and the V2
data plane, once it has found the named model, set :data:`MODEL`; the rpc's recorder reads it
when the rpc ends (:mod:`drucker.observability.rpc_stats`). A context variable costs one
``set`` per prediction and one ``get`` per rpc, and each gRPC rpc runs in a task of its own, so
no rpc sees another's model. A binding that answers several requests in one task (HTTP
keep-alive) clears it when each request starts.
"""

from __future__ import annotations

import contextvars

# "" before routing (an unknown model, an undecodable request) and for rpcs of no model.
MODEL: contextvars.ContextVar[str] = contextvars.ContextVar("drucker_routed_model", default="")

route = MODEL.set


def clear() -> None:
    """Forget the model of an earlier request answered in this task."""
    MODEL.set("")

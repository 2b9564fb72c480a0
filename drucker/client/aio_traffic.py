"""The traffic methods of :class:`~drucker.client.aio.AsyncClient` (a mixin).

``drucker/client/_sync_traffic.py`` is generated from this file by ``tools/unasync.py``, as
``_sync.py`` is from ``aio.py``: edit here, then regenerate.

Every method acts on the client's model (``model=``; the server's default model without it),
needs the management token and answers the policy as it stands after the call
(:class:`~drucker.client.types.Traffic`). A refusal leaves the old policy and raises a
:class:`~drucker.client.errors.ClientError`: ``NotFound`` (unknown model or version),
``InvalidArgument`` (bad weights, fraction or guard), ``ServerError`` with FAILED_PRECONDITION
(a version that does not load).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import drucker.client._traffic as _traffic
from drucker._wire import drucker_pb2
from drucker.client.types import ShadowSample, Traffic


class AsyncTrafficMethods:
    """Traffic between the versions of one model: split, shadow, guard, promote."""

    _dashboard: Any

    async def _call(self, *call: Any) -> Any:  # the client's
        raise NotImplementedError

    async def _policy_call(self, rpc: str, request: Any, timeout: float | None) -> Traffic:
        reply = await self._call(getattr(self._dashboard, rpc), request, timeout)
        return _traffic.traffic_of(reply)

    async def traffic(self, *, timeout: float | None = None) -> Traffic:
        """The model's traffic policy with the live figures (per version, and the shadow's
        agreement)."""
        return await self._policy_call("GetTraffic", drucker_pb2.GetTrafficRequest(), timeout)

    async def set_split(
        self,
        weights: Mapping[str, float],
        *,
        timeout: float | None = 600,
    ) -> Traffic:
        """Split the requests over stored versions by percent, e.g. ``{"v1": 90, "v2": 10}``
        (weights sum to 100); each version is loaded and smoke-tested before it takes traffic.
        An empty mapping ends the split."""
        request = _traffic.split_request(weights)
        return await self._policy_call("SetTrafficSplit", request, timeout)

    async def set_shadow(
        self,
        version: str,
        fraction: float,
        *,
        timeout: float | None = 600,
    ) -> Traffic:
        """Also send ``fraction`` (in (0, 1]) of the requests to ``version``, off the request
        path, and compare its answers with the primary's."""
        request = drucker_pb2.SetTrafficShadowRequest(version=version, fraction=fraction)
        return await self._policy_call("SetTrafficShadow", request, timeout)

    async def stop_shadow(self, *, timeout: float | None = None) -> Traffic:
        """End the shadow (its figures and sample stay readable)."""
        request = drucker_pb2.SetTrafficShadowRequest()
        return await self._policy_call("SetTrafficShadow", request, timeout)

    async def set_guard(
        self,
        version: str,
        *,
        max_error_rate: float | None = None,
        min_agreement: float | None = None,
        window: int = _traffic.DEFAULT_GUARD_WINDOW,
        timeout: float | None = None,
    ) -> Traffic:
        """Guard a split or shadow version: over each ``window`` of its requests, an error rate
        above ``max_error_rate`` or an agreement below ``min_agreement`` takes it out of the
        split (weight 0, its share to the serving version) or stops the shadow."""
        request = _traffic.guard_request(version, max_error_rate, min_agreement, window)
        return await self._policy_call("SetTrafficGuard", request, timeout)

    async def remove_guard(self, version: str, *, timeout: float | None = None) -> Traffic:
        """Drop ``version``'s guard."""
        request = _traffic.guard_request(version, None, None, 0, remove=True)
        return await self._policy_call("SetTrafficGuard", request, timeout)

    async def promote(self, version: str, *, timeout: float | None = 600) -> Traffic:
        """Make ``version`` serve 100 % (a switch), end the split and the shadow; the version
        that served stays loaded for a rollback."""
        request = drucker_pb2.PromoteVersionRequest(version=version)
        return await self._policy_call("PromoteVersion", request, timeout)

    async def clear_traffic(self, *, timeout: float | None = None) -> Traffic:
        """Remove the policy: the serving version answers everything."""
        return await self._policy_call("ClearTraffic", drucker_pb2.ClearTrafficRequest(), timeout)

    async def shadow_sample(self, *, limit: int = 0, timeout: float | None = None) -> ShadowSample:
        """The kept shadowed requests (input and both answers), oldest first, the most recent
        ``limit`` (0: all kept)."""
        request = drucker_pb2.ShadowSampleRequest(limit=limit)
        reply = await self._call(self._dashboard.ShadowSample, request, timeout)
        return _traffic.sample_of(reply)

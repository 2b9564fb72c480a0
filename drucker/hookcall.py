"""Calling a pluggy hook without pluggy's dispatch when one plain implementation answers it.

pluggy's own dispatch costs about 5 µs a call, as much as a quick model's whole prediction. A
hook with exactly one implementation and no wrapper is called directly with the arguments that
implementation declares, as pluggy would call it; with several implementations or wrappers,
pluggy calls them. The plugins are fixed once the callers are built (the runtime builds them
once, when it is created).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pluggy

# The argument names of the hooks the runtime calls positionally, in the order it passes them.
PREDICT_ARGS = ("model", "input", "option", "input_kind", "output_kind")
BATCH_ARGS = ("model", "inputs", "options", "input_kind", "output_kind")
TENSOR_ARGS = ("model", "inputs", "option", "input_kind", "output_kind")
LOG_ARGS = ("record",)
ARGS = {
    "drucker_predict": PREDICT_ARGS,
    "drucker_predict_batch": BATCH_ARGS,
    "drucker_predict_tensor": TENSOR_ARGS,
    "drucker_log": LOG_ARGS,
}


def _single(caller: pluggy.HookCaller) -> Any:
    """The one plain implementation of the hook, or ``None``."""
    impls = caller.get_hookimpls()
    if len(impls) == 1 and not (impls[0].hookwrapper or impls[0].wrapper):
        return impls[0]
    return None


def positional_caller(
    caller: pluggy.HookCaller, names: tuple[str, ...] | None = None
) -> Callable[..., Any]:
    """A function taking the hook's arguments ``names`` in order and calling the hook
    (by default the names :data:`ARGS` lists for the hook)."""
    names = names or ARGS[caller.name]
    impl = _single(caller)
    if impl is None:
        return lambda *args: caller(**dict(zip(names, args, strict=True)))
    function = impl.function
    wanted = tuple(names.index(name) for name in impl.argnames)
    if wanted == tuple(range(len(names))):
        return cast(Callable[..., Any], function)
    return lambda *args: function(*[args[index] for index in wanted])


def keyword_caller(
    caller: pluggy.HookCaller, names: tuple[str, ...] | None = None
) -> Callable[..., Any]:
    """Like :func:`positional_caller` for a broadcast hook called with keyword arguments
    (every implementation is called, and what they return is ignored)."""
    names = names or ARGS[caller.name]
    impl = _single(caller)
    if impl is None:
        return cast(Callable[..., Any], caller)
    if impl.argnames == names:  # it takes the same keywords
        return cast(Callable[..., Any], impl.function)
    direct = positional_caller(caller, names)
    return lambda **kwargs: direct(*[kwargs[name] for name in names])

"""Finding and registering plugins: by dotted module name, file path or entry point."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from drucker import hookspecs
from drucker.errors import PluginError

ENTRY_POINT_GROUP = "drucker"


def new_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager that knows drucker's hooks and nothing else yet."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def import_plugin(spec: str) -> ModuleType:
    """Import a plugin given as a file path, an entry-point name or a dotted module name.

    :raises PluginError: when nothing by that name can be imported, with the reason.
    """
    path = Path(spec)
    if spec.endswith(".py") or path.is_file():
        return _import_file(path)
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name == spec:
            try:
                loaded = entry_point.load()
            except Exception as exc:
                raise PluginError(f"plugin entry point {spec!r} failed to load: {exc}") from exc
            if not isinstance(loaded, ModuleType):
                raise PluginError(f"plugin entry point {spec!r} does not name a module")
            return loaded
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name is not None and spec.startswith(exc.name):
            raise PluginError(
                f"plugin {spec!r} not found: it is neither a file, nor an entry point in the "
                f"{ENTRY_POINT_GROUP!r} group, nor an importable module"
            ) from exc
        raise PluginError(f"plugin {spec!r} failed to import: {exc}") from exc
    except Exception as exc:
        raise PluginError(f"plugin {spec!r} failed to import: {exc!r}") from exc


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise PluginError(f"plugin file {path} does not exist")
    resolved = path.resolve()
    name = f"drucker_user_plugin_{resolved.stem}"
    module_spec = importlib.util.spec_from_file_location(name, resolved)
    if module_spec is None or module_spec.loader is None:
        raise PluginError(f"plugin file {path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    # Let the plugin import its neighbours (helpers next to it), as `python file.py` would.
    sys.path.insert(0, str(resolved.parent))
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise PluginError(f"plugin file {path} failed to import: {exc!r}") from exc
    return module


def build_plugin_manager(
    model_plugin: str | ModuleType | object | None,
    *,
    extra_plugins: tuple[object, ...] = (),
    load_entry_points: bool = True,
) -> pluggy.PluginManager:
    """Register the model plugin, the log plugins and installed entry-point plugins.

    :raises PluginError: when no plugin (or more than one) implements ``drucker_predict``, or
        the model plugin implements none of the model hooks.
    """
    manager = new_plugin_manager()
    for plugin in extra_plugins:
        manager.register(plugin)
    if load_entry_points:
        try:
            manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            raise PluginError(f"an entry-point plugin failed to load: {exc!r}") from exc
    if model_plugin is not None:
        plugin = import_plugin(model_plugin) if isinstance(model_plugin, str) else model_plugin
        if manager.is_registered(plugin):
            pass
        elif not _implements_model_hook(plugin):
            raise PluginError(
                f"plugin {_describe(plugin)} implements none of the model hooks "
                f"({', '.join(hookspecs.MODEL_HOOKS)}); mark its functions with "
                "@drucker.hookimpl"
            )
        else:
            try:
                manager.register(plugin)
            except pluggy.PluginValidationError as exc:
                raise PluginError(f"plugin {_describe(plugin)} is invalid: {exc}") from exc
    check_model_plugins(manager)
    return manager


def _implements_model_hook(plugin: object) -> bool:
    return any(
        hasattr(getattr(plugin, name, None), hookspecs.PROJECT_NAME + "_impl")
        for name in hookspecs.MODEL_HOOKS
    )


def _describe(plugin: Any) -> str:
    return repr(getattr(plugin, "__name__", None) or type(plugin).__name__)


def check_model_plugins(manager: pluggy.PluginManager) -> None:
    """Require one ``drucker_predict`` and at most one of each other model hook.

    A plugin without ``drucker_load_model`` serves without a model file (``model`` is ``None``).
    """
    for hook_name in hookspecs.MODEL_HOOKS:
        impls = getattr(manager.hook, hook_name).get_hookimpls()
        if hook_name == "drucker_predict" and not impls:
            raise PluginError(
                "no plugin implements drucker_predict: give the model plugin with --plugin "
                "(a module name, a .py file or an entry-point name)"
            )
        if len(impls) > 1:
            names = ", ".join(repr(impl.plugin_name) for impl in impls)
            raise PluginError(f"more than one plugin implements {hook_name}: {names}")

"""Finding and registering plugins.

- The **model plugin** is loaded only when named: a ``.py`` file, an entry point of the
  ``drucker.models`` group, or an importable module (the current directory included).
- **Additive plugins** (log sinks, exporters) are loaded automatically from the
  ``drucker.plugins`` entry-point group, as pytest loads ``pytest11``; ``no:NAME`` disables one.

A plugin implementing an unknown hook name is refused (pluggy's ``check_pending``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import pluggy

from drucker import hookspecs
from drucker.errors import PluginError

MODEL_GROUP = "drucker.models"
ADDITIVE_GROUP = "drucker.plugins"
# drucker 0.5.0 had one group for both; its entry points still name model plugins.
LEGACY_GROUP = "drucker"
DISABLE_PREFIX = "no:"


def new_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager that knows drucker's hooks and nothing else yet."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def disabled_names(specs: Iterable[str]) -> frozenset[str]:
    """The plugin names disabled by ``-p no:NAME`` arguments.

    :raises PluginError: for an argument that is not of the ``no:NAME`` form.
    """
    names = set()
    for spec in specs:
        if not spec.startswith(DISABLE_PREFIX) or not spec[len(DISABLE_PREFIX) :]:
            raise PluginError(f"-p {spec!r}: expected no:NAME to disable the plugin NAME")
        names.add(spec[len(DISABLE_PREFIX) :])
    return frozenset(names)


def _entry_point(group: str, name: str) -> importlib.metadata.EntryPoint | None:
    for entry_point in importlib.metadata.entry_points(group=group):
        if entry_point.name == name:
            return entry_point
    return None


def import_plugin(spec: str) -> ModuleType:
    """Import a model plugin given as a file path, an entry-point name or a module name.

    :raises PluginError: when nothing by that name can be imported, with the reason.
    """
    path = Path(spec)
    if spec.endswith(".py") or path.is_file():
        return _import_file(path)
    entry_point = _entry_point(MODEL_GROUP, spec) or _entry_point(LEGACY_GROUP, spec)
    if entry_point is not None:
        try:
            loaded = entry_point.load()
        except Exception as exc:
            raise PluginError(f"plugin entry point {spec!r} failed to load: {exc}") from exc
        if not isinstance(loaded, ModuleType):
            raise PluginError(f"plugin entry point {spec!r} does not name a module")
        return loaded
    # `--plugin my_model` finds my_model.py in the current directory, as `python -m` would.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name is not None and spec.startswith(exc.name):
            raise PluginError(
                f"plugin {spec!r} not found: it is neither a file, nor an entry point in the "
                f"{MODEL_GROUP!r} group, nor an importable module"
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


def _load_additive(manager: pluggy.PluginManager, disabled: frozenset[str]) -> None:
    for entry_point in importlib.metadata.entry_points(group=ADDITIVE_GROUP):
        if entry_point.name in disabled or manager.get_plugin(entry_point.name) is not None:
            continue
        try:
            plugin = entry_point.load()
            manager.register(plugin, name=entry_point.name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {entry_point.name!r} is invalid: {exc}") from exc
        except Exception as exc:
            raise PluginError(f"plugin {entry_point.name!r} failed to load: {exc!r}") from exc


def build_plugin_manager(
    model_plugin: str | ModuleType | object | None,
    *,
    extra_plugins: tuple[object, ...] = (),
    disabled: Iterable[str] = (),
    load_entry_points: bool = True,
    require_model: bool = True,
) -> pluggy.PluginManager:
    """Register the model plugin, ``extra_plugins`` and the installed additive plugins.

    :param model_plugin: a name (see :func:`import_plugin`) or a module/object.
    :param disabled: names of additive plugins not to load (``-p no:NAME`` without ``no:``).
    :param load_entry_points: load the ``drucker.plugins`` group (off in isolated tests).
    :param require_model: require a ``drucker_predict`` (off for a log-only process).
    :raises PluginError: when no plugin (or more than one) implements a model hook, the model
        plugin implements none of them, or a plugin implements an unknown hook.
    """
    manager = new_plugin_manager()
    for plugin in extra_plugins:
        manager.register(plugin)
    if load_entry_points:
        _load_additive(manager, frozenset(disabled))
    if model_plugin is not None:
        name = model_plugin if isinstance(model_plugin, str) else _describe(model_plugin)
        plugin = import_plugin(model_plugin) if isinstance(model_plugin, str) else model_plugin
        if manager.is_registered(plugin):
            pass
        elif not _implements_model_hook(plugin):
            raise PluginError(
                f"plugin {name!r} implements none of the model hooks "
                f"({', '.join(hookspecs.MODEL_HOOKS)}); mark its functions with "
                "@drucker.hookimpl"
            )
        else:
            try:
                manager.register(plugin, name=name)
            except pluggy.PluginValidationError as exc:
                raise PluginError(f"plugin {name!r} is invalid: {exc}") from exc
    _check_unknown_hooks(manager)
    if require_model or model_plugin is not None:
        check_model_plugins(manager)
    return manager


def with_model_plugin(
    manager: pluggy.PluginManager, model_plugin: str | ModuleType | object
) -> pluggy.PluginManager:
    """A new manager with ``manager``'s additive plugins (log sinks, exporters) and another
    model plugin: the plugins of a second model of one server.

    :raises PluginError: as :func:`build_plugin_manager` does.
    """
    additive = tuple(p for p in manager.get_plugins() if not _implements_model_hook(p))
    return build_plugin_manager(model_plugin, extra_plugins=additive, load_entry_points=False)


def _implements_model_hook(plugin: object) -> bool:
    return any(
        hasattr(getattr(plugin, name, None), hookspecs.PROJECT_NAME + "_impl")
        for name in hookspecs.MODEL_HOOKS
    )


def _describe(plugin: object) -> str:
    file = getattr(plugin, "__file__", None)
    return str(file or getattr(plugin, "__name__", None) or type(plugin).__name__)


def _check_unknown_hooks(manager: pluggy.PluginManager) -> None:
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        hook_name = str(exc).split("unknown hook", 1)[-1].strip(" '\"").split("'")[0]
        known = ", ".join(sorted(name for name in dir(hookspecs) if name.startswith("drucker_")))
        plugin_name = manager.get_name(exc.plugin) or _describe(exc.plugin)
        raise PluginError(
            f"plugin {plugin_name!r} implements {hook_name!r}, which is not a drucker hook "
            f"(known hooks: {known})"
        ) from None


def check_model_plugins(manager: pluggy.PluginManager) -> None:
    """Require one ``drucker_predict`` and at most one of each other model hook.

    A plugin without ``drucker_load_model`` serves without a model file (``model`` is ``None``).
    """
    for hook_name in hookspecs.MODEL_HOOKS:
        impls = getattr(manager.hook, hook_name).get_hookimpls()
        if hook_name == "drucker_predict" and not impls:
            raise PluginError(
                "no plugin implements drucker_predict: give the model plugin with --plugin "
                "(a module name, a .py file or an entry point of the "
                f"{MODEL_GROUP!r} group)"
            )
        if len(impls) > 1:
            names = ", ".join(repr(impl.plugin_name) for impl in impls)
            raise PluginError(f"more than one plugin implements {hook_name}: {names}")

"""The settings loader that ``drucker serve`` and ``drucker dashboard`` share.

A settings class is an attrs class whose fields are declared with :func:`setting`: each names
its key in a flat YAML file (``app.port``), its environment variable (``DRUCKER_`` + the key
upper-cased, dots as underscores, unless given) and its rule (an attrs validator built here:
:data:`PORT`, :func:`at_least`, …), so an instance is valid however it was built.

:func:`load` reads a class's values from explicit overrides (command-line options), the
environment and the file, highest first; it converts them strictly (cattrs), remembers which
source gave each value, and names that source (option, environment variable, or file and key)
when a value cannot be converted or breaks its rule.

This module knows no particular setting: it imports neither the server nor the dashboard.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cattrs
import cattrs.gen
import cattrs.v
import yaml

from drucker.errors import ConfigurationError

T = TypeVar("T", bound=attrs.AttrsInstance)


class InvalidSetting(ValueError):
    """A setting's value breaks its rule. ``field`` is the attrs field, ``reason`` says why."""

    def __init__(self, field: attrs.Attribute[Any], reason: str) -> None:
        super().__init__(f"key {field.metadata.get('key', field.name)!r}: {reason}")
        self.field = field
        self.reason = reason


Check = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def rule(holds: Callable[[Any], bool], reason: str) -> Check:
    """A field validator: ``reason`` (formatted with ``value``) unless ``holds(value)``.

    A NaN holds no comparison, so a rule that compares refuses it too.
    """

    def check(instance: Any, field: attrs.Attribute[Any], value: Any) -> None:
        if not holds(value):
            raise InvalidSetting(field, reason.format(value=value))

    return check


def at_least(bound: float) -> Check:
    """At least ``bound``."""
    return rule(lambda value: value >= bound, f"at least {bound}, got {{value}}")


def one_of(allowed: tuple[str, ...]) -> Check:
    """One of the ``allowed`` strings."""
    return rule(
        lambda value: value in allowed, f"expected one of {', '.join(allowed)}, got {{value!r}}"
    )


def needs(partner: str) -> Check:
    """Set only together with the field named ``partner`` (both empty or both given)."""

    def check(instance: Any, field: attrs.Attribute[Any], value: Any) -> None:
        if value and not getattr(instance, partner):
            other = attrs.fields_dict(type(instance))[partner].metadata["key"]
            raise InvalidSetting(field, f"needs {other} as well")

    return check


NOT_NEGATIVE = rule(lambda value: value >= 0, "must not be negative, got {value}")
POSITIVE = rule(lambda value: value > 0, "must be more than 0, got {value}")
PORT = rule(lambda value: 0 <= value <= 65535, "{value} is not a port (0 to 65535)")
REQUIRED = rule(lambda value: bool(value.strip()), "a value is required")
FILE_OR_EMPTY = rule(lambda value: not value or Path(value).is_file(), "no such file {value}")
URL_OR_EMPTY = rule(lambda value: not value or "://" in value, "expected a URL, got {value!r}")


def env_name(key: str) -> str:
    """A key's environment variable (unless it has its own): ``app.workers`` →
    ``DRUCKER_APP_WORKERS``."""
    return "DRUCKER_" + key.upper().replace(".", "_")


def setting(
    key: str,
    default: Any = attrs.NOTHING,
    env: str | None = None,
    check: Check | list[Check] | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """One setting: its file ``key``, ``default`` (or ``factory``), environment variable
    (derived from the key unless given) and ``check``: the validator(s) its values must pass.

    Document a setting with a ``#:`` comment above its field."""
    return attrs.field(
        default=default,
        factory=factory,
        validator=check,
        metadata={"key": key, "env": env or env_name(key)},
    )


def setting_fields(cls: type) -> list[attrs.Attribute[Any]]:
    """The fields of ``cls`` that can be given in a file or the environment, in order."""
    return [field for field in attrs.fields(cls) if "key" in field.metadata]


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    raise ValueError(f"expected an integer, got {value!r}")


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"expected a number, got {value!r}")


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _strict_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, got {value!r}")


def _strict_str(value: Any, _: type) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # YAML reads `app.service.name: 001` as a number
    raise ValueError(f"expected a string, got {value!r}")


def _enum_member(value: Any, kind: type[enum.Enum]) -> enum.Enum:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in kind)
        raise ValueError(f"expected one of {allowed}, got {value!r}") from None


def _is_enum(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, enum.Enum)


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook_func(_is_enum, _enum_member)
    converter.register_structure_hook_factory(  # a structured value (models:): no unknown keys
        attrs.has,
        lambda cls: cattrs.gen.make_dict_structure_fn(
            cls, converter, _cattrs_forbid_extra_keys=True
        ),
    )
    return converter


_converter = _make_converter()


def read_settings_file(path: Path) -> dict[str, Any]:
    """The flat mapping of a YAML settings file (an empty file is an empty mapping).

    :raises ConfigurationError: when it cannot be read, is not YAML or not a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read settings file: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: expected a mapping of keys to values")
    return {str(key): value for key, value in data.items()}


def load(
    cls: type[T],
    environ: Mapping[str, str],
    *,
    file: Path | None = None,
    raw: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    tolerated: Iterable[str] = (),
    internal: Mapping[str, Any] | None = None,
) -> T:
    """Build ``cls`` from ``overrides``, ``environ`` and ``raw`` (read from ``file``), in that
    order of precedence; fields given by none keep their defaults.

    :param overrides: values by field name that win over everything; errors name them as the
        command-line option of that name (``port`` → ``--port``).
    :param tolerated: keys the file may carry beyond the fields' (accepted, not used).
    :param internal: values of fields that no source gives (passed through unchecked).
    :raises ConfigurationError: naming the source that gave the bad value: the option, the
        environment variable, or the file and key.
    """
    attrs.resolve_types(cls)
    raw = {} if raw is None else raw
    fields = setting_fields(cls)
    by_key = {field.metadata["key"]: field for field in fields}
    unknown = sorted(set(raw) - set(by_key) - set(tolerated))
    if unknown:
        known = ", ".join(sorted(by_key))
        raise ConfigurationError(f"{file}: unknown key {unknown[0]!r} (known keys: {known})")

    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for field in fields:
        key, variable = field.metadata["key"], field.metadata["env"]
        if variable in environ:
            origins[field.name], value = f"environment variable {variable}", environ[variable]
        elif key in raw:
            origins[field.name], value = f"{file}: key {key!r}", raw[key]
        else:
            continue
        values[field.name] = _structure(field, value, origins[field.name])
    by_name = attrs.fields_dict(cls)
    for name, value in (overrides or {}).items():
        origins[name] = f"option --{name.replace('_', '-')}"
        values[name] = _structure(by_name[name], value, origins[name])

    try:
        return cls(**values, **(internal or {}))
    except InvalidSetting as invalid:
        where = origins.get(invalid.field.name, f"default of {invalid.field.metadata['key']!r}")
        raise ConfigurationError(f"{where}: {invalid.reason}") from None


def convert(value: Any, kind: Any) -> Any:
    """``value`` converted strictly to ``kind`` (as a file's value is).

    :raises ValueError: saying what was expected.
    """
    try:
        return _converter.structure(value, kind)
    except cattrs.BaseValidationError as exc:
        raise ValueError("; ".join(cattrs.transform_error(exc, format_exception=_fault))) from None


def _structure(field: attrs.Attribute[Any], value: Any, origin: str) -> Any:
    if value is None:
        raise ConfigurationError(f"{origin}: a value is required")
    try:
        return _converter.structure(value, field.type)  # type: ignore[arg-type]
    except cattrs.BaseValidationError as exc:  # e.g. an entry of models: names each fault
        faults = cattrs.transform_error(exc, format_exception=_fault)
        raise ConfigurationError(f"{origin}: {'; '.join(faults)}") from None
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"{origin}: {exc}") from None


def _fault(error: BaseException, type_: Any) -> str:
    """A validator's own message, else cattrs' words for the fault."""
    if isinstance(error, ValueError) and not isinstance(error, cattrs.BaseValidationError):
        return str(error)
    return cattrs.v.format_exception(error, type_)

"""Overrides and grids in Hydra's grammar: ``--set key=value`` and ``--grid key=a,b``.

The grammar is Hydra's own (its override parser, ``hydra-core``), so a user who knows
``python app.py -m lr=1e-3,3e-3`` knows this one:

* ``key=value`` changes one key; a nested key is dotted: ``structures.one_level.epochs=20``;
* ``a,b`` is a choice, ``range(start,stop,step)`` a range (``stop`` excluded, as Python's);
* ``[a,b]`` is a list value, a quoted string (``'1e-3'``, ``"a,b"``) a literal;
* values are read as YAML 1.2 reads them: ``1e-3`` is a float (PyYAML's YAML 1.1 reads a string).

An :class:`Override` is one parsed argument: a key and its values (one for ``--set``, one or more
for ``--grid``). Which keys exist comes from :data:`renoise.pipeline.config.DEFAULTS`, so a key another
module adds there can be overridden at once. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

from renoise.errors import ConfigError, first_line

#: The override types the grammar allows: plain ``key=value`` (Hydra's ``+key``, ``~key`` and
#: ``key@package`` add and delete config groups, which an experiment does not have).
_PLAIN = "CHANGE"


@dataclass(frozen=True)
class Override:
    """One ``key=value`` argument: the dotted key, its values in the order given, and the text as
    typed (for error messages). ``values`` has one element for ``--set``."""

    key: str
    values: tuple
    text: str


def _parser():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


def _plain(value):
    """Hydra's value as plain Python: a quoted string as its text, lists and mappings inside out."""
    from hydra.core.override_parser.types import QuotedString

    if isinstance(value, QuotedString):
        return value.text
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def parse(text: str, *, choice: bool) -> Override:
    """Parse one argument: ``choice=False`` for ``--set`` (one value), ``True`` for ``--grid``.

    Refuses, with a one-line :class:`ConfigError`: no ``=``, an empty value (``key=``), a
    malformed or empty ``range()``, a choice whose values repeat, and a choice given to ``--set``.
    """
    flag = "--grid" if choice else "--set"
    key, equals, raw = text.partition("=")
    if not equals or not key.strip():
        raise ConfigError(f"{flag} {text!r}: expected key=value, as in autoencoder.learning_rate=3e-3")
    if not raw.strip():
        raise ConfigError(f"{flag} {text!r}: no value after '=' (an empty choice); quote it ('') for an empty string")
    override = _parse_hydra(text, flag)
    values = _values(override, text, flag)
    if not choice and override.is_sweep_override():
        raise ConfigError(f"{flag} {text!r}: a choice or range belongs to --grid; --set takes one value")
    return Override(override.key_or_group, tuple(values), text)


def _parse_hydra(text: str, flag: str):
    """Hydra's parse of ``text``; its errors (ANTLR's, or a bad ``range()``) as one line."""
    from hydra.errors import HydraException

    try:
        override = _parser().parse_override(text)
    except (HydraException, ValueError, TypeError) as exc:
        reason = first_line(exc)
        hint = "; a range is range(start,stop[,step]) of numbers" if "range" in text else ""
        raise ConfigError(f"{flag} {text!r}: malformed override: {reason}{hint}") from None
    if override.type.name != _PLAIN or override.package is not None:
        raise ConfigError(f"{flag} {text!r}: expected plain key=value (no +, ~ or @)")
    return override


def _values(override, text: str, flag: str) -> list:
    """The override's values in order, each plain Python; an empty range or a repeat is refused."""
    values = [_plain(v) for v in override.sweep_iterator()] if override.is_sweep_override() else [_plain(override.value())]
    if override.value_type is not None and override.value_type.name == "RANGE_SWEEP":
        sweep = override.value()  # Hydra's float range adds up steps: 0.1 + 3 * 0.1 < 0.4 lets 0.4 in
        values = [float(f"{v:.12g}") if isinstance(v, float) else v for v in values]
        values = [v for v in values if (v - sweep.stop) * (1 if sweep.step > 0 else -1) < 0]
    if not values:
        raise ConfigError(f"{flag} {text!r}: the range is empty (stop is excluded; it must lie beyond start)")
    texts = [value_text(v) for v in values]
    repeated = sorted({t for t in texts if texts.count(t) > 1})
    if repeated:
        raise ConfigError(f"{flag} {text!r}: values repeat ({', '.join(repeated)})")
    return values


def value_text(value) -> str:
    """A value as a point's key spells it: ``0.003``, ``dense``, ``[32,8]``, ``null``, ``true``.

    Floats by their shortest round-trip text (``repr``), so ``3e-3`` and ``0.003`` are one key.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return "[" + ",".join(value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{value_text(v)}" for k, v in value.items()) + "}"
    return str(value)


# -- keys and types ------------------------------------------------------------------------------


def known_keys(defaults: dict, structure_defaults: dict, structures) -> dict:
    """Every dotted key an override may name, with its default: the leaves of ``defaults`` and,
    for each training structure, ``structures.<name>.<key>`` from ``structure_defaults``."""
    keys = {}
    for key, value in defaults.items():
        if key == "structures":
            for name in structures:
                keys.update({f"structures.{name}.{k}": v for k, v in structure_defaults.items()})
        elif isinstance(value, dict):
            keys.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            keys[key] = value
    return keys


def check_key(key: str, known: dict, text: str) -> None:
    """Refuse a key that is not in ``known``, suggesting the closest one."""
    if key not in known:
        hint = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        raise ConfigError(f"{text!r}: unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))


#: What a default's type admits: a whole number for an int, any number for a float, and so on.
_ADMITS = {bool: (bool,), int: (int,), float: (int, float), str: (str,), list: (list,)}
#: How an error message names each type.
_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", list: "a list [a,b]"}


def check_type(key: str, value, default, text: str) -> None:
    """Refuse ``value`` where its type cannot stand for ``default``'s (a string for a number, a
    float for a whole number). ``null`` and keys whose default is ``null`` are left to the
    experiment's own validation, which knows their ranges."""
    kind = type(default)
    if value is None or kind not in _ADMITS:
        return
    wrong = isinstance(value, bool) and kind is not bool or not isinstance(value, _ADMITS[kind])
    if wrong:
        raise ConfigError(f"{text!r}: {key} expects {_NAMES[kind]} (its default is {value_text(default)}), "
                          f"got {value_text(value)!r}")


def assign(config: dict, key: str, value) -> None:
    """Set the dotted ``key`` in the nested mapping ``config`` (creating a structure's block)."""
    *path, leaf = key.split(".")
    node = config
    for part in path:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[leaf] = value

"""Experiment files: a YAML file describing the tree of runs, read and validated.

An experiment names a dataset, the classifier, and for each training structure a parent with its
children (each a re-noising mode), repeated ``repetitions`` times. :func:`load` reads one, applies
``--set`` overrides and checks every value, with one-line errors that name the key and, for an
unknown key, the closest known one. :mod:`renoise.pipeline.plan` turns the result into runs. Neither
imports keras nor TensorFlow, so ``renoise status`` answers at once.
"""

from __future__ import annotations

import copy
import difflib
import math
from pathlib import Path

import yaml

from renoise.science import backend as backends
from renoise.pipeline import overrides
from renoise.science import noise
from renoise.science.architectures import (ARCHITECTURES, DEFAULT_LEARNING_RATES, DEFAULT_MIN_DELTA, DEFAULT_PATIENCE,
                                   DEFAULT_SIZES, SCHEDULE_KEYS, SCHEDULES, check_sizes)
from renoise.science.data import DATASETS, MNIST5K_SIZE
from renoise.science.embedding import MIN_POINTS, PERPLEXITY, check_backend
from renoise.errors import ConfigError

#: Every key an experiment may hold, with its default. ``structures`` maps a structure to a block
#: shaped like :data:`STRUCTURE_DEFAULTS`; ``autoencoder.hidden: null`` takes the architecture's
#: own sizes (:data:`renoise.science.architectures.DEFAULT_SIZES`).
DEFAULTS = {
    "seed": 0,
    "repetitions": 1,
    "threads": 1,
    "backend": backends.DEFAULT,
    "data": {"dataset": "mnist5k", "path": None, "test_fraction": 0.1, "validation_fraction": 0.1,
             "n_train": None, "n_test": None},
    "classifier": {"epochs": 10, "patience": None},
    "autoencoder": {"architecture": "dense", "hidden": None, "learning_rate": None, "patience": DEFAULT_PATIENCE,
                    "min_delta": DEFAULT_MIN_DELTA, **SCHEDULE_KEYS},
    "structures": {},
    "compare": {"renoise_at_eval": False, "tsne_backend": "opentsne",
                "tsne_sets": list(noise.SHOWN_SETS), "tsne_points": None,
                "shared_map": False, "grid_digits": 20},
    "tracking": True,
}
#: A training structure's block: the parent's epochs (a maximum: early stopping ends training at
#: its plateau), the children's renoise modes, the children's epochs (default: the parent's), and
#: early stopping's patience, its threshold ``min_delta`` and the schedule's ``lr_patience``
#: (default: the autoencoder's), and ``epochs_per_pass``: the epochs one pass over the structure's
#: set is split into, so that a multiple-levels pass (11 x N) is checked that many times.
STRUCTURE_DEFAULTS = {"epochs": 10, "children": [], "child_epochs": None, "patience": None, "min_delta": None,
                      "lr_patience": None, "epochs_per_pass": 1}
#: The experiment tracker's settings (:mod:`renoise.pipeline.tracker`) where ``tracking`` is a
#: mapping: ``models`` also stores each model file in the tracker (36 MB a dense autoencoder).
#: ``tracking: true`` (the default) takes these, ``false`` logs nothing.
TRACKING_DEFAULTS = {"models": False}
#: A stratified split must leave every one of the 10 classes on both sides.
CLASSES = 10


def load(path: str | Path, changes: tuple[overrides.Override, ...] = ()) -> dict:
    """Read and validate an experiment file; the name defaults to the file's stem.

    ``changes`` (``--set`` overrides, or one grid point's, each with one value) are applied after
    the file's own values and validated with them; an error names the overrides. The file's
    ``grid:`` block is read by :mod:`renoise.pipeline.grid`, not here.
    """
    path = Path(path)
    given = _read_yaml(path)
    name = given.pop("name", path.stem)
    given.pop("grid", None)
    merged = _merge(DEFAULTS, given, path.name)
    for change in changes:
        apply(merged, change)
    try:
        config = _validate(merged, path.name)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (with {', '.join(c.text for c in changes)})" if changes else str(exc)) from None
    config["name"] = _folder_name(name, path.name)
    return config


def _folder_name(name, where: str) -> str:
    """The experiment's name, which names its folder below ``runs/``, ``storage/`` and
    ``reports/``: one folder, so no ``/`` (``name: a/b`` would nest it in another's)."""
    text = str(name)
    if not text.strip() or text in (".", "..") or any(c in text for c in "/\\\0"):
        raise ConfigError(f"{where}.name: {text!r} must name one folder: not empty, '.' or '..', "
                          f"and without '/', '\\' or NUL")
    return text


def settable_keys() -> dict:
    """Every dotted key an override may name, with its default."""
    return overrides.known_keys(DEFAULTS, STRUCTURE_DEFAULTS, noise.STRUCTURES)


def apply(config: dict, change: overrides.Override) -> None:
    """Set one override's (single) value in a merged, not yet validated, configuration; refuse an
    unknown key (with the closest known one) or a value of the wrong type for its key."""
    known = settable_keys()
    overrides.check_key(change.key, known, change.text)
    (value,) = change.values
    overrides.check_type(change.key, value, known[change.key], change.text)
    overrides.assign(config, change.key, value)


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: experiment file not found") from None
    try:
        given = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: malformed YAML{at}: {getattr(exc, 'problem', exc)}") from None
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return given


def _merge(defaults: dict, given, where: str) -> dict:
    """Overlay ``given`` on ``defaults``, refusing unknown keys with a suggestion."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(given).__name__}")
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        if key not in defaults:
            hint = difflib.get_close_matches(str(key), defaults, n=1)
            raise ConfigError(f"{where}: unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        nested = isinstance(defaults[key], dict) and key != "structures"
        merged[key] = _merge(defaults[key], value, f"{where}.{key}") if nested else value
    return merged


def _validate(config: dict, where: str) -> dict:
    """Check every value's type and range, one block at a time; normalise what has two spellings."""
    for check in (_check_top, _check_data, _check_classifier, _check_autoencoder, _check_structures, _check_compare,
                  _check_tracking):
        check(config, where)
    return config


def _whole(value, where: str, *, minimum: int = 1, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: expected a whole number of at least {minimum}, got {value!r}")
    return value


def _yaml11_float(value):
    """``value``, or the float a string such as ``"3e-3"`` spells: YAML 1.1 (PyYAML) reads a
    number in exponent form without a decimal point as a string."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def _fraction(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(f"{where}: expected a fraction strictly between 0 and 1, got {value!r}")
    return float(value)


def _check_top(config: dict, where: str) -> None:
    _whole(config["seed"], f"{where}.seed", minimum=0)
    _whole(config["repetitions"], f"{where}.repetitions")
    _whole(config["threads"], f"{where}.threads")
    backends.check(config["backend"], f"{where}.backend")


def smallest_split(fraction: float) -> int:
    """The fewest images a stratified split with ``fraction`` held out accepts: both parts must
    hold at least one image of each of the :data:`CLASSES` classes."""
    n = CLASSES
    while math.ceil(fraction * n) < CLASSES or n - math.ceil(fraction * n) < CLASSES:
        n += 1
    return n


def _check_data(config: dict, where: str) -> None:
    data = config["data"]
    if data["dataset"] not in DATASETS:
        raise ConfigError(f"{where}.data.dataset: no dataset named {data['dataset']!r}; choose one of {', '.join(DATASETS)}")
    for key in ("test_fraction", "validation_fraction"):
        _fraction(data[key], f"{where}.data.{key}")
    for key in ("n_train", "n_test"):
        _whole(data[key], f"{where}.data.{key}", allow_none=True)
    smallest = smallest_split(data["validation_fraction"])
    if data["n_train"] is not None and data["n_train"] < smallest:
        raise ConfigError(f"{where}.data.n_train: {data['n_train']} training images are too few for a stratified "
                          f"validation split of {data['validation_fraction']:g}; use at least {smallest}")
    if data["dataset"] == "mnist5k" and MNIST5K_SIZE < smallest_split(data["test_fraction"]):
        raise ConfigError(f"{where}.data.test_fraction: {data['test_fraction']:g} of mnist5k's {MNIST5K_SIZE} "
                          f"digits leaves a class out of one split")


def _check_classifier(config: dict, where: str) -> None:
    _whole(config["classifier"]["epochs"], f"{where}.classifier.epochs")
    _whole(config["classifier"]["patience"], f"{where}.classifier.patience", allow_none=True)


def _check_autoencoder(config: dict, where: str) -> None:
    ae = config["autoencoder"]
    if ae["architecture"] not in ARCHITECTURES:
        raise ConfigError(f"{where}.autoencoder.architecture: {ae['architecture']!r} is not one of {', '.join(ARCHITECTURES)}")
    if ae["hidden"] is None:
        ae["hidden"] = list(DEFAULT_SIZES[ae["architecture"]])
    problem = check_sizes(ae["architecture"], ae["hidden"])
    if problem:
        raise ConfigError(f"{where}.autoencoder.hidden: {problem}")
    given = DEFAULT_LEARNING_RATES[ae["architecture"]] if ae["learning_rate"] is None else ae["learning_rate"]
    rate = ae["learning_rate"] = _yaml11_float(given)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
        raise ConfigError(f"{where}.autoencoder.learning_rate: expected a number between 0 and 1, got {rate!r}")
    _whole(ae["patience"], f"{where}.autoencoder.patience", allow_none=True)
    _check_schedule(ae, f"{where}.autoencoder")


def _min_delta(value, where: str) -> float:
    """Early stopping's threshold: a fraction of the best loss, 0 (any improvement) up to below 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"{where}: expected a fraction of the best loss, at least 0 and below 1 (0.005: 0.5 %), "
                          f"got {value!r}")
    return float(value)


def _check_schedule(ae: dict, where: str) -> None:
    """The threshold and the learning-rate schedule's keys (:data:`SCHEDULE_KEYS`)."""
    ae["min_delta"] = _min_delta(ae["min_delta"], f"{where}.min_delta")
    if ae["schedule"] not in SCHEDULES:
        raise ConfigError(f"{where}.schedule: {ae['schedule']!r} is not one of {', '.join(SCHEDULES)}")
    ae["lr_factor"] = _fraction(ae["lr_factor"], f"{where}.lr_factor")
    _whole(ae["lr_patience"], f"{where}.lr_patience")
    floor = ae["min_lr"] = _yaml11_float(ae["min_lr"])
    if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0 <= floor < ae["learning_rate"]:
        raise ConfigError(f"{where}.min_lr: expected a number of at least 0 and below the learning rate "
                          f"{ae['learning_rate']:g}, got {floor!r}")


def _check_structures(config: dict, where: str) -> None:
    if not isinstance(config["structures"], dict) or not config["structures"]:
        raise ConfigError(f"{where}.structures: name at least one of {', '.join(noise.STRUCTURES)}")
    for name in list(config["structures"]):
        if name not in noise.STRUCTURES:
            raise ConfigError(f"{where}.structures: unknown training structure {name!r}; "
                              f"choose from {', '.join(noise.STRUCTURES)}")
        at = f"{where}.structures.{name}"
        block = _merge(STRUCTURE_DEFAULTS, config["structures"][name], at)
        _whole(block["epochs"], f"{at}.epochs")
        _whole(block["child_epochs"], f"{at}.child_epochs", allow_none=True)
        _whole(block["patience"], f"{at}.patience", allow_none=True)
        _whole(block["lr_patience"], f"{at}.lr_patience", allow_none=True)
        _whole(block["epochs_per_pass"], f"{at}.epochs_per_pass")
        block["min_delta"] = None if block["min_delta"] is None else _min_delta(block["min_delta"], f"{at}.min_delta")
        block["children"] = _renoise_modes(block["children"], name, f"{at}.children")
        config["structures"][name] = block


def _renoise_modes(given, structure: str, where: str) -> list:
    """A structure's children as normalised renoise modes, each once."""
    if not isinstance(given, list):
        raise ConfigError(f"{where}: expected a list of renoise modes")
    modes = []
    for mode in given:
        try:
            modes.append(noise.parse_mode(mode))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    names = [noise.mode_name(m) for m in modes]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{where}: renoise modes repeat ({', '.join(repeated)}): each child needs its own folder")
    if "multi" in modes and structure != "multiple_levels":
        raise ConfigError(f"{where}: 'multi' needs the multiple_levels structure")
    return modes


def _check_compare(config: dict, where: str) -> None:
    compare = config["compare"]
    try:
        check_backend(compare["tsne_backend"])
    except ConfigError as exc:
        raise ConfigError(f"{where}.compare.tsne_backend: {exc}") from None
    for key in ("renoise_at_eval", "shared_map"):
        if not isinstance(compare[key], bool):
            raise ConfigError(f"{where}.compare.{key}: expected true or false, got {compare[key]!r}")
    if not isinstance(compare["tsne_sets"], list):
        raise ConfigError(f"{where}.compare.tsne_sets: expected a list of set names, got {compare['tsne_sets']!r}")
    unknown = [s for s in compare["tsne_sets"] if s not in noise.SET_NAMES]
    if unknown:
        raise ConfigError(f"{where}.compare.tsne_sets: unknown sets {unknown}; choose from {', '.join(noise.SET_NAMES)}")
    _whole(compare["tsne_points"], f"{where}.compare.tsne_points", allow_none=True)
    _whole(compare["grid_digits"], f"{where}.compare.grid_digits")
    _check_map_size(config, where)


def _check_map_size(config: dict, where: str) -> None:
    """A t-SNE map needs more points than three times its perplexity."""
    if not config["compare"]["tsne_sets"]:
        return
    data = config["data"]
    sizes = [(f"{where}.compare.tsne_points", config["compare"]["tsne_points"]), (f"{where}.data.n_test", data["n_test"])]
    if data["dataset"] == "mnist5k" and data["n_test"] is None:  # scikit-learn rounds a test fraction up
        sizes.append((f"{where}.data.test_fraction", math.ceil(data["test_fraction"] * MNIST5K_SIZE)))
    for key, value in sizes:
        if value is not None and value < MIN_POINTS:
            raise ConfigError(f"{key}: {value} points are too few for a t-SNE map (perplexity {PERPLEXITY:g} needs "
                              f"at least {MIN_POINTS}); raise it, or set compare.tsne_sets: [] to draw no maps")


def _check_tracking(config: dict, where: str) -> None:
    """``tracking``: true, false, or a mapping of :data:`TRACKING_DEFAULTS`' keys (tracking on);
    normalised to that mapping with ``enabled`` added."""
    given = config["tracking"]
    if isinstance(given, bool):
        config["tracking"] = {"enabled": given, **TRACKING_DEFAULTS}
        return
    if not isinstance(given, dict):
        raise ConfigError(f"{where}.tracking: expected true, false or a mapping such as {{models: true}}, got {given!r}")
    block = _merge(TRACKING_DEFAULTS, given, f"{where}.tracking")
    if not isinstance(block["models"], bool):
        raise ConfigError(f"{where}.tracking.models: expected true or false, got {block['models']!r}")
    config["tracking"] = {"enabled": True, **block}

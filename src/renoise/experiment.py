"""Experiments: a YAML file describing the tree of runs, validated and turned into a plan.

An experiment names a dataset, the classifier, and for each training structure a parent with its
children (each a re-noising mode). :func:`plan` turns it into :class:`Run` records in dependency
order: data -> classifier -> parents -> children -> compare. Each run knows its notebook, its
folder under ``runs/<experiment>/`` (the seed's layout: ``one_level/001/25/0001``) and the
parameters papermill injects.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from renoise import noise
from renoise.data import DATASETS
from renoise.embedding import check_backend
from renoise.errors import ConfigError
from renoise.models import ARCHITECTURES, DEFAULT_HIDDEN

#: Every key an experiment may hold, with its default. ``structures`` maps a structure to a block
#: shaped like :data:`STRUCTURE_DEFAULTS`.
DEFAULTS = {
    "seed": 0,
    "data": {"dataset": "mnist5k", "path": None, "test_fraction": 0.1, "validation_fraction": 0.1,
             "n_train": None, "n_test": None},
    "classifier": {"epochs": 10, "patience": None},
    "autoencoder": {"architecture": "dense", "hidden": list(DEFAULT_HIDDEN), "patience": None},
    "structures": {},
    "compare": {"renoise_at_eval": False, "tsne_backend": "opentsne",
                "tsne_sets": list(noise.SHOWN_SETS), "tsne_points": None,
                "shared_map": False, "grid_digits": 20},
}
STRUCTURE_DEFAULTS = {"epochs": 10, "children": [], "child_epochs": None}
LABELS = {"one_level": "one lvl", "multiple_levels": "multi lvl"}


@dataclass(frozen=True)
class Run:
    """One notebook execution: its key (path below the experiment's run folder), notebook,
    papermill parameters and the keys of the runs it needs."""

    key: str
    notebook: str
    label: str
    parameters: dict = field(compare=False)
    needs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()  # files the run leaves for others; if one is gone, the run reruns


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


def _positive_int(value, where: str, *, allow_none: bool = False, minimum: int = 1):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: expected a whole number of at least {minimum}, got {value!r}")
    return value


def _fraction(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(f"{where}: expected a fraction strictly between 0 and 1, got {value!r}")
    return float(value)


def _validate(config: dict, where: str) -> dict:
    """Check every value's type and range; normalise renoise modes."""
    _positive_int(config["seed"], f"{where}.seed", minimum=0)
    data = config["data"]
    if data["dataset"] not in DATASETS:
        raise ConfigError(f"{where}.data.dataset: no dataset named {data['dataset']!r}; choose one of {', '.join(DATASETS)}")
    for key in ("test_fraction", "validation_fraction"):
        _fraction(data[key], f"{where}.data.{key}")
    for key in ("n_train", "n_test"):
        _positive_int(data[key], f"{where}.data.{key}", allow_none=True)
    _positive_int(config["classifier"]["epochs"], f"{where}.classifier.epochs")
    ae = config["autoencoder"]
    if ae["architecture"] not in ARCHITECTURES:
        raise ConfigError(f"{where}.autoencoder.architecture: {ae['architecture']!r} is not one of {', '.join(ARCHITECTURES)}")
    if not isinstance(ae["hidden"], list) or not ae["hidden"]:
        raise ConfigError(f"{where}.autoencoder.hidden: expected a list of layer sizes, got {ae['hidden']!r}")
    for k, units in enumerate(ae["hidden"]):
        _positive_int(units, f"{where}.autoencoder.hidden[{k}]")
    for block in ("classifier", "autoencoder"):
        _positive_int(config[block]["patience"], f"{where}.{block}.patience", allow_none=True)
    if not isinstance(config["structures"], dict) or not config["structures"]:
        raise ConfigError(f"{where}.structures: name at least one of {', '.join(noise.STRUCTURES)}")
    for name in list(config["structures"]):
        if name not in noise.STRUCTURES:
            raise ConfigError(f"{where}.structures: unknown training structure {name!r}; choose from {', '.join(noise.STRUCTURES)}")
        block = _merge(STRUCTURE_DEFAULTS, config["structures"][name], f"{where}.structures.{name}")
        _positive_int(block["epochs"], f"{where}.structures.{name}.epochs")
        _positive_int(block["child_epochs"], f"{where}.structures.{name}.child_epochs", allow_none=True)
        if not isinstance(block["children"], list):
            raise ConfigError(f"{where}.structures.{name}.children: expected a list of renoise modes")
        modes = []
        for mode in block["children"]:
            try:
                modes.append(noise.parse_mode(mode))
            except ValueError as exc:
                raise ConfigError(f"{where}.structures.{name}.children: {exc}") from None
        names = [noise.mode_name(m) for m in modes]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigError(f"{where}.structures.{name}.children: renoise modes repeat ({', '.join(repeated)}): "
                              "each child needs its own folder")
        if "multi" in modes and name != "multiple_levels":
            raise ConfigError(f"{where}.structures.{name}.children: 'multi' needs the multiple_levels structure")
        block["children"] = modes
        config["structures"][name] = block
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
    _positive_int(compare["tsne_points"], f"{where}.compare.tsne_points", allow_none=True)
    _positive_int(compare["grid_digits"], f"{where}.compare.grid_digits")
    return config


def load(path: str | Path) -> dict:
    """Read and validate an experiment file; the name defaults to the file's stem."""
    path = Path(path)
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
    name = given.pop("name", path.stem)
    config = _validate(_merge(DEFAULTS, given, path.name), path.name)
    config["name"] = str(name)
    return config


def run_seed(seed: int, key: str) -> int:
    """A run's own seed, derived from the experiment's seed and the run's key (stable across machines)."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{key}".encode()).digest()[:4], "big") % (2**31)


def model_name(structure: str, mode=None) -> str:
    """A model's display name: ``one lvl parent`` or ``multi lvl → 25``."""
    label = LABELS[structure]
    return f"{label} parent" if mode is None else f"{label} \u2192 {noise.mode_name(mode)}"


def plan(config: dict, runs_root: str = "runs", storage_root: str = "storage") -> list[Run]:
    """The experiment's runs in dependency order, with paths relative to the project root."""
    name = config["name"]
    base, storage = f"{runs_root}/{name}", f"{storage_root}/{name}"
    data_dir = f"{storage}/data"
    ae = config["autoencoder"]
    runs = [
        Run("data", "data.ipynb", "data", {**config["data"], "data_dir": data_dir, "run_dir": f"{base}/data",
                                          "seed": run_seed(config["seed"], "data")},
            outputs=(f"{data_dir}/train.npz", f"{data_dir}/test.npz")),
        Run("classifier", "classifier.ipynb", "classifier",
            {"run_dir": f"{base}/classifier", "data_dir": data_dir, **config["classifier"],
             "seed": run_seed(config["seed"], "classifier")}, ("data",), (f"{base}/classifier/model.keras",)),
    ]
    models = []
    for structure, block in config["structures"].items():
        parent_key = f"{structure}/001"
        common = {"data_dir": data_dir, "structure": structure, "architecture": ae["architecture"],
                  "hidden": list(ae["hidden"]), "patience": ae["patience"]}
        runs.append(Run(parent_key, "autoencoder.ipynb", model_name(structure),
                        {**common, "run_dir": f"{base}/{parent_key}", "parent_dir": None, "mode": None,
                         "epochs": block["epochs"], "seed": run_seed(config["seed"], parent_key)}, ("data",),
                        (f"{base}/{parent_key}/model.keras",)))
        models.append({"name": model_name(structure), "run_dir": f"{base}/{parent_key}", "parent": None,
                       "structure": structure, "mode": None})
        for mode in block["children"]:
            key = f"{parent_key}/{noise.mode_name(mode)}/0001"
            runs.append(Run(key, "autoencoder.ipynb", model_name(structure, mode),
                            {**common, "run_dir": f"{base}/{key}", "parent_dir": f"{base}/{parent_key}", "mode": mode,
                             "epochs": block["child_epochs"] or block["epochs"], "seed": run_seed(config["seed"], key)},
                            ("data", parent_key), (f"{base}/{key}/model.keras",)))
            models.append({"name": model_name(structure, mode), "run_dir": f"{base}/{key}",
                           "parent": model_name(structure), "structure": structure, "mode": mode})
    compare = {**config["compare"], "run_dir": f"{base}/compare", "data_dir": data_dir,
               "classifier_dir": f"{base}/classifier", "storage_dir": storage, "experiment": name,
               "models": models, "seed": run_seed(config["seed"], "compare")}
    runs.append(Run("compare", "compare.ipynb", "compare", compare, tuple(r.key for r in runs),
                    (f"{base}/compare/compare.ipynb",)))
    return runs

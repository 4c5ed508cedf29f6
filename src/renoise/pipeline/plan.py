"""The plan of an experiment: its runs in dependency order, their keys, folders and seeds.

:func:`plan` turns a validated experiment (:mod:`renoise.pipeline.config`) into :class:`Run` records in
dependency order: data -> classifier -> parents -> children -> compare. Each run knows its
notebook, its folder under ``runs/<experiment>/`` (the seed's layout: repetition 2 of a
one-level parent is ``one_level/002``, its 25 % child ``one_level/002/25/0001``), the parameters
papermill injects and its seed, derived from its key. Imports neither keras nor TensorFlow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

from renoise.science import backend as backends
from renoise.science import noise
from renoise.science.architectures import SCHEDULE_KEYS
from renoise.pipeline.specs import Family, ModelSpec, model_label


@dataclass(frozen=True)
class Run:
    """One notebook execution: its key (its folder below the experiment's run folder), notebook,
    display label, papermill parameters, the keys of the runs it reads and the files it leaves
    for them."""

    key: str
    notebook: str
    label: str
    parameters: dict = field(compare=False)
    needs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()  # verified against the marker: one gone or changed reruns the run
    gpu: bool = False  # trains a network: asks for a GPU where the cluster's workers have one
    is_comparison: bool = False  # the compare run: gets its inputs' run hashes as the parameter ``input_hashes``
    threads: int = 1  # the backend's threads per op: the run's numbers depend on it, wherever it runs
    backend: str = backends.DEFAULT  # keras' backend (:mod:`renoise.science.backend`): its numbers differ from another's
    home: str = ""  # in a grid: the folder, below the experiment's, of the overrides that reach the run
    repetition: int = 0  # a model run's repetition (1, 2, ...; a child has its parent's); 0 for the others
    #: The key within its experiment or grid point (``one_level/001``), which seeds, pairings and
    #: the compare run's tables use; :attr:`key` is unique in a grid's whole plan. Carried as
    #: planned (:func:`_placed`), never cut out of :attr:`key`.
    local_key: str = ""

    def __post_init__(self):
        """A run made without a local key is keyed within its own experiment: its key is its local key."""
        if not self.local_key:
            object.__setattr__(self, "local_key", self.key)

    @property
    def run_dir(self) -> str:
        """The run's folder, relative to the project root."""
        return self.parameters["run_dir"]


def run_seed(seed: int, key: str) -> int:
    """A run's own seed, derived from the experiment's seed and the run's key (stable across machines)."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{key}".encode()).digest()[:4], "big") % (2**31)


def parent_key(structure: str, repetition: int) -> str:
    """Repetition ``r`` of a structure's parent: ``one_level/00r`` (the seed's numbering)."""
    return f"{structure}/{repetition:03d}"


def child_key(structure: str, repetition: int, mode) -> str:
    """A child of repetition ``r``'s parent: ``one_level/00r/25/0001``."""
    return f"{parent_key(structure, repetition)}/{noise.mode_name(mode)}/0001"


@dataclass(frozen=True)
class _Layout:
    """Where an experiment's runs and caches live, relative to the project root."""

    runs: str
    storage: str
    point: str = ""  # a grid point's folder: its comparison and tables live there
    homes: dict = field(default_factory=dict)  # run key -> folder of the overrides that reach it (else the point's)

    def home(self, key: str) -> str:
        return self.homes.get(key, self.point)

    def run_dir(self, key: str) -> str:
        return "/".join(part for part in (self.runs, self.home(key), key) if part)

    @property
    def data_dir(self) -> str:
        return "/".join(part for part in (self.storage, self.home("data"), "data") if part)

    @property
    def tables(self) -> str:
        """The point's storage: its evaluation cache and CSV tables."""
        return "/".join(part for part in (self.storage, self.point) if part)


def plan(config: dict, runs_root: str = "runs", storage_root: str = "storage", *, point: str = "",
         homes: dict[str, str] | None = None) -> list[Run]:
    """The experiment's runs in dependency order, with paths relative to the project root.

    For a grid point (:mod:`renoise.pipeline.grid`), ``point`` is its folder below the experiment's and
    ``homes`` the folder of each run that several points share; a run's :attr:`Run.key` is then
    its folder below the experiment's, unique across the grid.
    """
    layout = _Layout(f"{runs_root}/{config['name']}", f"{storage_root}/{config['name']}", point, homes or {})
    runs = [_data_run(config, layout), _classifier_run(config, layout)]
    for structure, block in config["structures"].items():
        for repetition in range(1, config["repetitions"] + 1):
            runs.append(_parent_run(config, layout, structure, block, repetition))
            runs.extend(_child_run(config, layout, structure, block, repetition, mode) for mode in block["children"])
    runs.append(_compare_run(config, layout, runs))
    return _placed([replace(run, threads=config["threads"], backend=config["backend"]) for run in runs], layout)


def _placed(runs: list[Run], layout: _Layout) -> list[Run]:
    """``runs`` keyed by their folder below the experiment's (``<home>/<key>``), each keeping the
    key it was planned with as its :attr:`Run.local_key`: the same keys as planned where no run
    has a home (a plain experiment)."""
    unique = {run.key: "/".join(p for p in (layout.home(run.key), run.key) if p) for run in runs}
    return [replace(run, key=unique[run.key], local_key=run.key, needs=tuple(unique[k] for k in run.needs),
                    home=layout.home(run.key)) for run in runs]


def _data_run(config: dict, layout: _Layout) -> Run:
    parameters = {**config["data"], "data_dir": layout.data_dir, "run_dir": layout.run_dir("data"),
                  "seed": run_seed(config["seed"], "data")}
    return Run("data", "data.ipynb", "data", parameters,
               outputs=(f"{layout.data_dir}/train.npz", f"{layout.data_dir}/test.npz"))


def _classifier_run(config: dict, layout: _Layout) -> Run:
    run_dir = layout.run_dir("classifier")
    parameters = {"run_dir": run_dir, "data_dir": layout.data_dir, **config["classifier"],
                  "seed": run_seed(config["seed"], "classifier")}
    return Run("classifier", "classifier.ipynb", "classifier", parameters, ("data",), (f"{run_dir}/model.keras",),
               gpu=True)


def _autoencoder_run(config: dict, layout: _Layout, key: str, label: str, structure: str, *, parent: str | None,
                     mode, epochs: int, patience: int | None, repetition: int) -> Run:
    """A parent (``parent=None``) or a child run of the autoencoder notebook."""
    ae = config["autoencoder"]
    run_dir = layout.run_dir(key)
    parameters = {"data_dir": layout.data_dir, "run_dir": run_dir, "structure": structure,
                  "parent_dir": parent and layout.run_dir(parent), "mode": mode, "epochs": epochs,
                  "architecture": ae["architecture"], "hidden": list(ae["hidden"]), "learning_rate": ae["learning_rate"],
                  "patience": patience, **_plateau(config, structure),
                  "epochs_per_pass": config["structures"][structure]["epochs_per_pass"],
                  "seed": run_seed(config["seed"], key)}
    needs = ("data",) if parent is None else ("data", parent)
    return Run(key, "autoencoder.ipynb", label, parameters, needs, (f"{run_dir}/model.keras", f"{run_dir}/history.json"),
               gpu=True, repetition=repetition)


def _parent_run(config: dict, layout: _Layout, structure: str, block: dict, repetition: int) -> Run:
    return _autoencoder_run(config, layout, parent_key(structure, repetition), model_label(structure), structure,
                            parent=None, mode=None, epochs=block["epochs"], patience=_patience(config, block),
                            repetition=repetition)


def _child_run(config: dict, layout: _Layout, structure: str, block: dict, repetition: int, mode) -> Run:
    return _autoencoder_run(config, layout, child_key(structure, repetition, mode), model_label(structure, noise.mode_name(mode)),
                            structure, parent=parent_key(structure, repetition), mode=mode,
                            epochs=block["child_epochs"] or block["epochs"], patience=_patience(config, block),
                            repetition=repetition)


def _plateau(config: dict, structure: str) -> dict:
    """The notebook's ``min_delta`` and ``schedule`` (a :data:`SCHEDULE_KEYS` mapping) for a
    structure's runs: the structure's own threshold and ``lr_patience``, else the autoencoder's."""
    ae, block = config["autoencoder"], config["structures"][structure]
    schedule = {key: ae[key] for key in SCHEDULE_KEYS}
    if block["lr_patience"] is not None:
        schedule["lr_patience"] = block["lr_patience"]
    return {"min_delta": ae["min_delta"] if block["min_delta"] is None else block["min_delta"], "schedule": schedule}


def _patience(config: dict, block: dict) -> int | None:
    """Early stopping's patience for a structure's runs: its own, else the autoencoder's."""
    return config["autoencoder"]["patience"] if block["patience"] is None else block["patience"]


def model_specs(runs: list[Run]) -> list[ModelSpec]:
    """The compare run's view of every autoencoder run, parents before their children."""
    specs = []
    for run in runs:
        if run.notebook != "autoencoder.ipynb":
            continue
        p = run.parameters
        parent = run.needs[1] if len(run.needs) > 1 else None
        specs.append(ModelSpec(key=run.key, label=run.label, family=str(Family.CHILD if parent else Family.PARENT),
                               structure=p["structure"], mode=p["mode"], repetition=run.repetition, parent=parent,
                               run_dir=run.run_dir))
    return specs


def _compare_run(config: dict, layout: _Layout, runs: list[Run]) -> Run:
    run_dir = layout.run_dir("compare")
    parameters = {**config["compare"], "run_dir": run_dir, "data_dir": layout.data_dir,
                  "classifier_dir": layout.run_dir("classifier"), "storage_dir": layout.tables,
                  "experiment": "/".join(part for part in (config["name"], layout.point) if part), "dataset": config["data"]["dataset"],
                  "repetitions": config["repetitions"], "models": model_specs(runs),
                  "seed": run_seed(config["seed"], "compare")}
    return Run("compare", "compare.ipynb", "compare", parameters, tuple(r.key for r in runs),
               (f"{run_dir}/compare.ipynb",), is_comparison=True)


def restrict(compare: Run, available: set[str], local: dict[str, str] | None = None) -> Run:
    """The compare run over the models whose runs are ``available`` (complete; keys of the plan,
    ``local`` maps them to the keys the compare run knows): what is left when some repetitions
    failed. Its parameters, and so its hash, differ from the full run's, so the full comparison
    runs once every model is there."""
    local = local or {}
    needs = tuple(k for k in compare.needs if k in available)
    kept = {local.get(k, k) for k in needs}
    models = [m for m in compare.parameters["models"] if m["key"] in kept]
    return replace(compare, parameters={**compare.parameters, "models": models}, needs=needs)

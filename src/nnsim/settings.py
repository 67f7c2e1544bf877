"""Typed settings: the schema of ``conf/`` and the objects the library receives.

Every group of ``conf/`` is a dataclass here, and the same dataclass instances reach the
library: :func:`nnsim.config.compose` and :func:`nnsim.config.load_params` merge the
composed YAML into :class:`Settings` (types checked by OmegaConf), build the objects and
check every range (:func:`check`), so a bad value fails at composition with the key's name,
the value and what is allowed.  Values live in ``conf/`` only: fields are required
(:data:`MISSING`) unless optional by nature (``None``).

Each field's rule (range, choices, non-empty, unique, sorted) is metadata of the field
(:func:`req`), so the schema is also the documentation of what a setting accepts.  This
module imports nothing but the standard library and :mod:`nnsim.errors`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nnsim.errors import ConfigError

#: OmegaConf's marker of a required value (the same string; no OmegaConf import here).
MISSING: Any = "???"

#: Distances of the neighbour search.
DISTANCES: tuple[str, ...] = ("cosine", "euclidean")
#: Measures of the comparison; ``overlap`` is the paper's S_n.
#: Measures of the top-n lists, per track (bootstrap CIs over tracks).
LIST_MEASURES: tuple[str, ...] = ("overlap", "rbo", "spearman", "jaccard", "rank")
#: Measures of two whole spaces (:mod:`nnsim.measures`), with a permutation chance level.
GLOBAL_MEASURES: tuple[str, ...] = ("cka", "debiased_cka", "procrustes", "rsa", "svcca")
#: Measures of the top-n neighbourhoods that also read the vectors (:mod:`nnsim.measures`).
VECTOR_MEASURES: tuple[str, ...] = ("second_order_cosine", "cknna")
MEASURES: tuple[str, ...] = LIST_MEASURES + VECTOR_MEASURES + GLOBAL_MEASURES
#: Secondary distances the comparison may rank by (``none``: the spaces' own distances).
HUBNESS_REDUCTIONS: tuple[str, ...] = ("none", "csls", "mutual_proximity")
#: Neighbour-search backends (``auto``: exact below ``neighbors.exact_below`` tracks).
BACKENDS: tuple[str, ...] = ("exact", "approximate", "auto")
#: Track subsets.
SUBSETS: tuple[str, ...] = ("large", "small")
#: How an audio file's track id is made.
TRACK_ID_RULES: tuple[str, ...] = ("stem", "relpath")
#: Where the content-based model graphs come from.
MODEL_SOURCES: tuple[str, ...] = ("musicnn", "official")
#: How repeated (user, track) rows of a log combine.
AGGREGATES: tuple[str, ...] = ("sum", "max", "mean")
#: 2-D projection methods.
PROJECTION_METHODS: tuple[str, ...] = ("pca", "tsne", "umap")
#: t-SNE implementations.
TSNE_IMPLEMENTATIONS: tuple[str, ...] = ("opentsne", "sklearn")
#: Initialisations of t-SNE and UMAP (``spectral``: UMAP only; t-SNE then uses ``random``).
PROJECTION_INITS: tuple[str, ...] = ("random", "pca", "spectral")
#: Essentia MonoLoader resampling qualities (0 best .. 4 fastest).
RESAMPLE_QUALITIES: tuple[int, ...] = (0, 1, 2, 3, 4)
#: How the MusiCNN/VGG graphs run: Essentia's TensorFlow, or onnxruntime on the same graphs
#: converted to ONNX by the ``models`` stage (Essentia stays the audio front end).
AUDIO_RUNTIMES: tuple[str, ...] = ("essentia", "onnxruntime")
#: Distances of scikit-learn / UMAP inside the projections.
PROJECTION_METRICS: tuple[str, ...] = ("euclidean", "cosine")


def req(
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Sequence[Any] | None = None,
    nonempty: bool = False,
    unique: bool = False,
    increasing: bool = False,
    default: Any = MISSING,
) -> Any:
    """A settings field with its rule; bounds and choices apply to each item of a list.

    Parameters
    ----------
    ge, gt, le, lt : float, optional
        Bounds (``>=``, ``>``, ``<=``, ``<``).
    choices : sequence, optional
        Allowed values.
    nonempty, unique, increasing : bool
        For lists: at least one item, no repeats, strictly increasing.
    default : optional
        :data:`MISSING` (required, the default) or ``None`` for an optional setting.
    """
    rule = {
        "ge": ge,
        "gt": gt,
        "le": le,
        "lt": lt,
        "choices": tuple(choices) if choices is not None else None,
        "nonempty": nonempty,
        "unique": unique,
        "increasing": increasing,
    }
    return field(default=default, metadata={"rule": rule})


def _range_text(rule: dict[str, Any]) -> str:
    parts = []
    for key, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if rule[key] is not None:
            parts.append(f"{op} {rule[key]:g}")
    return " and ".join(parts)


def _check_value(key: str, value: Any, rule: dict[str, Any]) -> None:
    items = value if isinstance(value, list) else [value]
    for v in items:
        if v is None:
            continue
        if rule["choices"] is not None and v not in rule["choices"]:
            raise ConfigError(
                f"setting {key}={v!r} is not valid; valid values: "
                f"{', '.join(map(str, rule['choices']))}."
            )
        bounds = _range_text(rule)
        if bounds and isinstance(v, (int, float)) and not isinstance(v, bool):
            ok = (
                (rule["ge"] is None or v >= rule["ge"])
                and (rule["gt"] is None or v > rule["gt"])
                and (rule["le"] is None or v <= rule["le"])
                and (rule["lt"] is None or v < rule["lt"])
            )
            if not ok:
                raise ConfigError(
                    f"setting {key}={v!r} is out of range; it must be {bounds}. Fix it in conf/ "
                    "or on the command line."
                )
    if isinstance(value, list):
        if rule["nonempty"] and not value:
            raise ConfigError(f"setting {key} needs at least one value, got []. Set it in conf/.")
        if rule["unique"] and len(set(map(str, value))) != len(value):
            dups = sorted({str(v) for v in value if value.count(v) > 1})
            raise ConfigError(
                f"setting {key}={value} repeats {', '.join(dups)}; list each value once."
            )
        if rule["increasing"] and value != sorted(set(value)):
            raise ConfigError(
                f"setting {key}={value} must be increasing without repeats; "
                f"write {key}={sorted(set(value))}."
            )


def check(obj: Any, prefix: str = "") -> None:
    """Check every field's rule of a settings object and its nested groups.

    Raises
    ------
    ConfigError
        Naming the dotted key, the value and the allowed range or values.
    """
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        rule = f.metadata.get("rule")
        if rule is not None:
            _check_value(key, value, rule)
        if dataclasses.is_dataclass(value):
            check(value, key + ".")
        elif isinstance(value, dict):
            for name, item in value.items():
                if dataclasses.is_dataclass(item):
                    check(item, f"{key}.{name}.")


@dataclass
class HnswSettings:
    """hnswlib graph and search parameters (``neighbors.approximate``)."""

    M: int = req(ge=2)
    ef_construction: int = req(ge=1)
    ef_search: int = req(ge=1)
    threads: int = req(ge=1)
    seed: int = req(ge=0)
    deterministic: bool = MISSING


@dataclass
class NeighborsSettings:
    """The neighbour tables: width, memory bounds and the search backend (``neighbors``)."""

    k: int = req(ge=1)
    max_block_mb: float = req(gt=0)
    symmetric_mb: float = req(ge=0)
    distances: list[str] = req(choices=DISTANCES, nonempty=True, unique=True)
    backend: str = req(choices=BACKENDS)
    exact_below: int = req(ge=2)
    recall_sample: int = req(ge=2)
    memmap_mb: float = req(ge=0)
    approximate: HnswSettings = field(default_factory=HnswSettings)

    def approximate_for(self, n_tracks: int) -> bool:
        """Whether a space of ``n_tracks`` gets approximate tables (``backend``)."""
        return self.backend == "approximate" or (
            self.backend == "auto" and n_tracks >= self.exact_below
        )


@dataclass
class CompareSettings:
    """The comparison: bootstrap, measures, aggregates (``compare``)."""

    n_boot: int = req(ge=0)
    ci_level: float = req(gt=0, lt=1)
    seed: int = req(ge=0)
    measures: list[str] = req(choices=MEASURES, nonempty=True, unique=True)
    rbo_p: float = req(gt=0, lt=1)
    drop_zero_rows: bool = MISSING
    subsets: list[str] = req(choices=SUBSETS, nonempty=True, unique=True)
    variables: list[str] = req(unique=True)
    ambiguity_rtol: float = req(ge=0, lt=1)
    #: Row permutations behind the chance level of the global measures.
    chance_permutations: int = req(ge=0, le=1000)
    #: Reference tracks over which a permutation chance level of a list or vector measure is
    #: estimated (all of them when fewer).
    chance_tracks: int = req(ge=10)
    #: Tracks of RSA's seeded subsample (its distance vectors have m(m-1)/2 entries).
    rsa_max_tracks: int = req(ge=3, le=20000)
    #: Bootstrap replicates of the global measures' CIs (each recomputes the measure on a
    #: resample of the tracks; 0: none).
    global_n_boot: int = req(ge=0, le=100000)
    #: Tracks from which the global measures' CIs come from the linearised bootstrap (below:
    #: every replicate recomputes the measure).
    global_exact_below: int = req(ge=0)
    #: Replicates of the hubness statistics' CIs (each recounts every list: O(N n) a space).
    hubness_n_boot: int = req(ge=0, le=100000)
    #: S_n and the other list measures on secondary distances (hubness reduction).
    hubness_reduction: str = req(choices=HUBNESS_REDUCTIONS)
    #: CSLS: the nearest neighbours whose mean distance is a track's local scale r_i.
    hubness_k: int = req(ge=1, le=10000)
    #: Candidates per track that a reduction re-ranks, as a multiple of the largest cutoff.
    hubness_candidates: float = req(ge=1, le=100)


@dataclass
class AudioSettings:
    """Decoding, patching and file discovery of the extraction (``audio``)."""

    sample_rate: int = req(ge=8000)
    resample_quality: int = req(choices=RESAMPLE_QUALITIES)
    patch_hop: int = req(ge=1)
    vggish_patch_hop: int = req(ge=1)
    min_duration: float = req(ge=0)
    silence_rms: float = req(ge=0)
    track_id: str = req(choices=TRACK_ID_RULES)
    extensions: list[str] = req(nonempty=True, unique=True)
    workers: int = req(ge=1)
    cache_dir: str = MISSING
    runtime: str = req(choices=AUDIO_RUNTIMES)
    runtime_threads: int = req(ge=0)

    def decoding(self) -> dict[str, Any]:
        """The settings that change a model's output (part of every cache key)."""
        keys = (
            "sample_rate",
            "resample_quality",
            "patch_hop",
            "vggish_patch_hop",
            "min_duration",
            "silence_rms",
        )
        out = {k: getattr(self, k) for k in keys}
        # the runtime changes vectors in the 7th digit (cosine >= 0.9999998 measured): a cache
        # entry of one runtime is never served to the other
        out["runtime"] = self.runtime
        return out

    def threads_per_worker(self, cores: int) -> int:
        """onnxruntime threads of each worker process (``runtime_threads``; 0: cores / workers)."""
        return self.runtime_threads or max(1, cores // self.workers)


@dataclass
class ModelSpecSettings:
    """One content-based model (``models.specs.<name>``)."""

    dataset: str = MISSING
    architecture: str = MISSING
    frontend: str = req(choices=("musicnn", "vggish"))
    layers: dict[str, str] = MISSING
    dims: dict[str, int] = MISSING
    checkpoint: str | None = None
    sha256: str | None = None
    graph: str | None = None
    input: str | None = None


#: ``list`` is a field name of :class:`ModelsSettings`; its type needs another name there.
StrList = list[str]


@dataclass
class ModelsSettings:
    """Which content-based models, and where their graphs come from (``models``)."""

    source: str = req(choices=MODEL_SOURCES)
    tf_python: str = MISSING
    list: StrList = req(nonempty=True, unique=True)
    specs: dict[str, ModelSpecSettings] = MISSING


@dataclass
class PathsSettings:
    """Folders of the pipeline's outputs (``paths``)."""

    root: str = MISSING
    models_dir: str = MISSING
    spaces_dir: str = MISSING
    neighbors_dir: str = MISSING
    projections_dir: str = MISSING
    results_dir: str = MISSING
    metrics_dir: str = MISSING
    interim_dir: str = MISSING
    release_dir: str = MISSING
    demo_dir: str = MISSING


@dataclass
class SelectSettings:
    """Content-based spaces the analyses include (``select``)."""

    architectures: list[str] = req(nonempty=True, unique=True)
    datasets: list[str] = req(nonempty=True, unique=True)
    layers: list[str] = req(nonempty=True, unique=True)


@dataclass
class CfSelectSettings:
    """The ALS factor-count selection (``cf.select``)."""

    factors: list[int] = req(ge=1, nonempty=True, increasing=True)
    test_ratio: float = req(gt=0, lt=1)
    k: int = req(ge=1)
    seeds: list[int] = req(ge=0, nonempty=True, unique=True)


@dataclass
class CfSettings:
    """The interaction log's filtering and the ALS model (``cf``)."""

    aggregate: str = req(choices=AGGREGATES)
    event_weights: dict[str, float] = MISSING
    min_user_interactions: int = req(ge=1)
    min_track_interactions: int = req(ge=1)
    max_user_quantile: float = req(gt=0, le=1)
    restrict_to_cb: bool = MISSING
    select: CfSelectSettings = field(default_factory=CfSelectSettings)
    extra_factors: list[int] = req(ge=1, unique=True)
    regularization: float = req(ge=0)
    alpha: float = req(gt=0)
    iterations: int = req(ge=1)
    seed: int = req(ge=0)
    deterministic: bool = MISSING


@dataclass
class TsneSettings:
    """t-SNE parameters (``projection.tsne``)."""

    implementation: str = req(choices=TSNE_IMPLEMENTATIONS)
    perplexity: float = req(gt=0)
    learning_rate: Any = MISSING  # "auto" or a number
    early_exaggeration_iter: int = req(ge=0)
    n_iter: int = req(ge=1)
    metric: str = req(choices=PROJECTION_METRICS)


@dataclass
class UmapSettings:
    """UMAP parameters (``projection.umap``)."""

    n_neighbors: int = req(ge=2)
    min_dist: float = req(ge=0)
    metric: str = req(choices=PROJECTION_METRICS)
    n_epochs: int | None = req(ge=1, default=None)


@dataclass
class ProjectionSettings:
    """The 2-D maps and their scoring (``projection``)."""

    spaces: list[str] = req(nonempty=True, unique=True)
    methods: list[str] = req(choices=PROJECTION_METHODS, nonempty=True, unique=True)
    seeds: list[int] = req(ge=0, nonempty=True, unique=True)
    distances: list[str] = req(choices=DISTANCES, nonempty=True, unique=True)
    init: str = req(choices=PROJECTION_INITS)
    n_jobs: int = req(ge=1)
    color_by: str | None = None
    trust_max_tracks: int = req(ge=10)
    tsne: TsneSettings = field(default_factory=TsneSettings)
    umap: UmapSettings = field(default_factory=UmapSettings)

    def tsne_init(self) -> str:
        """t-SNE's initialisation (``spectral`` is UMAP's only: t-SNE then uses ``random``)."""
        return "random" if self.init == "spectral" else self.init

    def settings_of(self, method: str) -> dict[str, Any]:
        """The settings that made a map of ``method`` (recorded with the result)."""
        if method == "pca":
            return {"n_components": 2, "svd_solver": "full"}
        if method == "tsne":
            return {
                **dataclasses.asdict(self.tsne),
                "init": self.tsne_init(),
                "n_jobs": self.n_jobs,
            }
        return {**dataclasses.asdict(self.umap), "init": self.init, "n_jobs": self.n_jobs}


@dataclass
class ClusterSettings:
    """Dask: a LocalCluster on loopback or a named scheduler (``cluster``)."""

    address: str | None = None
    n_workers: int = req(ge=1)
    threads_per_worker: int = req(ge=1)
    memory_limit: str = MISSING
    connect_timeout: float = req(gt=0)
    retries: int = req(ge=0)
    extract: bool = MISSING
    neighbors: bool = MISSING


@dataclass
class ListeningAppSettings:
    """The listening test's web app (``listening.app``)."""

    host: str = MISSING
    port: int = req(ge=1, le=65535)
    db: str = MISSING
    start: float = req(ge=0)
    play: float = req(gt=0)
    title: str = MISSING
    #: URL query parameter holding a crowd platform's participant id (e.g. Prolific's
    #: ``PROLIFIC_PID``), stored with the answers; null: none.
    platform_param: str | None = None
    #: The completion code the platform gave the study, shown on the thanks page; null: a
    #: random code per participant (listed by the export).
    completion_code: str | None = None
    #: The platform's return address on the thanks page, ``{code}`` replaced; null: none.
    completion_url: str | None = None
    #: New participations one network address may start per minute (0: no limit).
    new_per_minute: int = req(ge=0, le=100000)
    #: References each participant rates, from a balanced design (null: all of them).
    per_participant: int | None = req(ge=1, default=None)


@dataclass
class ListeningSimulateSettings:
    """Simulated participants of the demo (``listening.simulate``)."""

    n_participants: int = req(ge=1)
    effect: float = MISSING
    position_effect: float = MISSING
    participant_sd: float = req(ge=0)
    noise_sd: float = req(ge=0)
    skip_rate: float = req(ge=0, lt=1)
    #: Share of participants who answer at random (they fail the attention checks).
    inattentive_rate: float = req(ge=0, le=1)
    seed: int = req(ge=0)


@dataclass
class ListeningStatsSettings:
    """The listening test's statistics (``listening.stats``)."""

    responses: str = MISSING
    #: The study file the answers are to: its per-reference agreement of each playlist.
    study: str = MISSING
    alpha: float = req(gt=0, lt=1)
    min_participants: int = req(ge=1)


#: Kinds of attention check (:data:`nnsim.listening.checks.EXPECTED`).
CHECK_KINDS: tuple[str, ...] = ("same", "far")


@dataclass
class AttentionSettings:
    """Attention checks of the listening test (``listening.attention``)."""

    #: One catch playlist of each kind (``same``: other excerpts of the reference, expected
    #: 3; ``far``: its farthest tracks, expected 0); [] for none.
    kinds: list[str] = req(choices=CHECK_KINDS, unique=True)
    #: A ``same`` check passes with a rating of at least this.
    pass_same: int = req(ge=0, le=3)
    #: A ``far`` check passes with a rating of at most this.
    pass_far: int = req(ge=0, le=3)
    #: The statistics leave out the participants who failed a check.
    exclude_failed: bool = MISSING


@dataclass
class ListeningSettings:
    """The listening study: spaces, references, playlists (``listening``)."""

    spaces: list[str] | None = req(unique=True, default=None)
    k: int = req(ge=2)
    cutoff: int = req(ge=1)
    distance: str = req(choices=DISTANCES)
    references: list[str] | None = req(unique=True, default=None)
    n_references: int = req(ge=1)
    reference_space: str = MISSING
    group_by: str | None = None
    playlist_length: int = req(ge=1)
    seed: int = req(ge=0)
    app: ListeningAppSettings = field(default_factory=ListeningAppSettings)
    attention: AttentionSettings = field(default_factory=AttentionSettings)
    simulate: ListeningSimulateSettings = field(default_factory=ListeningSimulateSettings)
    stats: ListeningStatsSettings = field(default_factory=ListeningStatsSettings)

    def check_against(self, cutoffs: list[int], neighbors: NeighborsSettings) -> None:
        """The rules that join the study to the comparison's settings (checked by the
        ``playlists`` stage, so that a sweep over ``cutoffs`` is not refused for them)."""
        k = neighbors.k
        if self.cutoff not in cutoffs:
            raise ConfigError(
                f"setting listening.cutoff={self.cutoff} is not one of cutoffs={cutoffs}; "
                "pick one of them."
            )
        if self.distance not in neighbors.distances:
            raise ConfigError(
                f"setting listening.distance={self.distance!r} is not computed by the pipeline "
                f"(neighbors.distances={neighbors.distances})."
            )
        if self.playlist_length > k:
            raise ConfigError(
                f"setting listening.playlist_length={self.playlist_length} exceeds "
                f"neighbors.k={k}; lower it or raise neighbors.k."
            )


@dataclass
class ExplorerSettings:
    """The explorer page of the results site (``site.explorer``)."""

    #: Build the explorer (``explorer.html``) into the results site.
    enabled: bool = MISSING
    #: Whose neighbour tables and S_n the explorer shows (one of ``neighbors.distances``;
    #: null: the first of them).
    distance: str | None = req(choices=DISTANCES, default=None)
    #: Neighbours per track shown and exported (<= ``neighbors.k``).
    k: int = req(ge=1, le=1000)
    #: Spaces shown (null: every compared space).
    spaces: list[str] | None = req(unique=True, default=None)
    #: Write short previews of the collection's audio into the site (needs ``data.audio_dir``).
    previews: bool = MISSING
    #: Length of a preview (s), taken from the middle of the clip.
    preview_seconds: float = req(gt=0, le=120)
    #: Audio address per track instead of previews, ``{track_id}`` replaced (null: previews).
    audio_url: str | None = None
    #: Metadata columns of ``data.tracks`` with at most this many values colour the maps.
    max_categories: int = req(ge=2, le=64)


@dataclass
class SiteServeSettings:
    """``nnsim site serve``: the results site on a local web server (``site.serve``)."""

    host: str = MISSING
    port: int = req(ge=1, le=65535)


@dataclass
class SiteSettings:
    """The results site (``site``)."""

    explorer: ExplorerSettings = field(default_factory=ExplorerSettings)
    serve: SiteServeSettings = field(default_factory=SiteServeSettings)

    def check_against(self, neighbors: NeighborsSettings) -> None:
        """The rules that join the explorer to the comparison's settings (checked by the
        ``site`` stage)."""
        e = self.explorer
        if e.distance is not None and e.distance not in neighbors.distances:
            raise ConfigError(
                f"setting site.explorer.distance={e.distance!r} is not computed by the pipeline "
                f"(neighbors.distances={neighbors.distances}); pick one of them."
            )
        if e.k > neighbors.k:
            raise ConfigError(
                f"setting site.explorer.k={e.k} exceeds neighbors.k={neighbors.k}; lower it or "
                "raise neighbors.k."
            )
        if e.audio_url is not None and "{track_id}" not in e.audio_url:
            raise ConfigError(
                f"setting site.explorer.audio_url={e.audio_url!r} has no {{track_id}} "
                "placeholder; write e.g. https://example.org/audio/{track_id}.mp3."
            )


@dataclass
class ZenodoSettings:
    """The Zenodo client (``release.zenodo``)."""

    base_url: str = MISSING
    token_env: str = MISSING
    token_file: str | None = None
    retries: int = req(ge=0)
    backoff: float = req(ge=0)
    timeout: float = req(gt=0)
    #: Folder of the upload state, one file per bundle sha256 (outside every DVC output:
    #: ``dvc repro export`` must not delete it).
    state_dir: str = req(nonempty=True)


@dataclass
class ReleaseSettings:
    """The Zenodo bundle's metadata (``release``)."""

    title: str = MISSING
    version: str = MISSING
    creators: list[dict[str, str]] = req(nonempty=True)
    description: str = MISSING
    keywords: list[str] = MISSING
    code_url: str = MISSING
    related: list[dict[str, str]] = MISSING
    license: str = MISSING
    align: bool = MISSING
    archive: str = MISSING
    zenodo: ZenodoSettings = field(default_factory=ZenodoSettings)


@dataclass
class MlflowSettings:
    """Tracking (``mlflow``)."""

    enabled: bool = MISSING
    tracking_uri: str = MISSING
    artifact_root: str = MISSING
    experiment: str = MISSING
    ui_host: str = MISSING
    ui_port: int = req(ge=1, le=65535)


@dataclass
class DemoSettings:
    """The embedded demo's synthetic corpus and log (``data.demo``)."""

    n_clips: int = req(ge=4)
    duration: float = req(gt=0)
    styles: list[str] = req(nonempty=True, unique=True)
    seed: int = req(ge=0)
    n_users: int = req(ge=1)
    events_per_user: int = req(ge=1)
    log_seed: int = req(ge=0)


@dataclass
class DataSettings:
    """Which data the pipeline runs on (``data``)."""

    name: str = MISSING
    synthetic: bool = MISSING
    audio_dir: str = MISSING
    #: The listening log (CSV); null: none, the audio-only route (no CF spaces).
    interactions: str | None = MISSING
    small_indices: str | None = None
    tracks: str | None = None
    latentjam_dir: str | None = None
    demo: DemoSettings | None = None
    #: What the ``interactions`` DVC stage tracks (DVC cannot track null): ``interactions``,
    #: or without a log the empty placeholder that ``simulate_log`` always writes.  Derived
    #: when the settings are composed; never set it by hand.
    interactions_dep: str | None = None

    @property
    def from_latentjam(self) -> bool:
        """Spaces come from a LatentJam release (``data=latentjam``): audio and log stages skip."""
        return bool(self.latentjam_dir)

    @property
    def has_log(self) -> bool:
        """There is a listening log to fit CF spaces on (not LatentJam, not audio-only)."""
        return not self.from_latentjam and self.interactions is not None

    def log_dep(self, demo_dir: str) -> str:
        """The value :attr:`interactions_dep` must have (see there)."""
        return self.interactions or f"{demo_dir}/interactions.csv"


@dataclass
class Settings:
    """The whole configuration (``conf/config.yaml`` with its groups, = ``params.yaml``)."""

    cutoffs: list[int] = req(ge=1, nonempty=True, increasing=True)
    neighbors: NeighborsSettings = field(default_factory=NeighborsSettings)
    subset: str = req(choices=SUBSETS)
    compare: CompareSettings = field(default_factory=CompareSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    models: ModelsSettings = field(default_factory=ModelsSettings)
    paths: PathsSettings = field(default_factory=PathsSettings)
    select: SelectSettings = field(default_factory=SelectSettings)
    distance: str = req(choices=DISTANCES)
    cf: CfSettings = field(default_factory=CfSettings)
    projection: ProjectionSettings = field(default_factory=ProjectionSettings)
    release: ReleaseSettings = field(default_factory=ReleaseSettings)
    listening: ListeningSettings = field(default_factory=ListeningSettings)
    site: SiteSettings = field(default_factory=SiteSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    mlflow: MlflowSettings = field(default_factory=MlflowSettings)
    data: DataSettings = field(default_factory=DataSettings)

    def check(self) -> None:
        """Every field's rule (:func:`check`), then the rules that join two settings."""
        check(self)
        dep = self.data.log_dep(self.paths.demo_dir)
        if self.data.interactions_dep not in (None, dep):
            raise ConfigError(
                f"setting data.interactions_dep={self.data.interactions_dep!r} does not follow "
                f"data.interactions (it must be {dep!r}); it is derived: regenerate "
                "params.yaml with `make params` instead of editing it."
            )
        k = self.neighbors.k
        if max(self.cutoffs) > k:
            raise ConfigError(
                f"setting cutoffs={self.cutoffs} exceeds neighbors.k={k}; raise neighbors.k "
                f"to at least {max(self.cutoffs)} or lower the cutoffs."
            )
        if not self.data.small_indices and (
            self.subset == "small" or "small" in self.compare.subsets
        ):
            raise ConfigError(
                "setting subset=small (or compare.subsets with small) needs data.small_indices "
                "(a file of row indices); set it in conf/data/ or use the large subset."
            )
        lr = self.projection.tsne.learning_rate
        if lr != "auto" and (
            isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0
        ):
            raise ConfigError(
                f"setting projection.tsne.learning_rate={lr!r} is not valid; use auto or a "
                "positive number."
            )
        mem = str(self.cluster.memory_limit).strip()
        if not re.fullmatch(r"auto|\d+(\.\d+)?\s*([kMGT]i?B|[KMGT]B|B)?", mem):
            raise ConfigError(
                f"setting cluster.memory_limit={mem!r} is not valid; give a size per worker "
                "such as 6GiB, 512MB or auto."
            )
        for name in self.models.list:
            if name not in self.models.specs:
                raise ConfigError(
                    f"setting models.list names unknown model {name!r}; valid models: "
                    f"{', '.join(self.models.specs)}."
                )

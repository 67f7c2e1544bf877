"""Typed settings: the schema ``conf/`` is checked against (Hydra structured configs).

Every group of ``conf/`` has a dataclass here.  Composition (:func:`nnsim.config.compose`)
and ``params.yaml`` (:func:`nnsim.config.load_params`) are merged into :class:`Settings`, so
an unknown key, a missing required key (``MISSING``) or a value of the wrong type fails at
the start with the key's name.  Values live in ``conf/`` only; the dataclasses carry no
second copy of a default except where a field is optional by nature (``None``).
Range checks that a type cannot express are in :func:`nnsim.config.validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

#: Distances of the neighbour search.
DISTANCES: tuple[str, ...] = ("cosine", "euclidean")
#: Measures of the comparison; ``overlap`` is the paper's S_n.
MEASURES: tuple[str, ...] = ("overlap", "rbo", "spearman")
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


@dataclass
class HnswSettings:
    M: int = MISSING
    ef_construction: int = MISSING
    ef_search: int = MISSING
    threads: int = MISSING
    seed: int = MISSING
    deterministic: bool = MISSING


@dataclass
class NeighborsSettings:
    k: int = MISSING
    max_block_mb: float = MISSING
    distances: list[str] = MISSING
    backend: str = MISSING
    exact_below: int = MISSING
    recall_sample: int = MISSING
    memmap_mb: float = MISSING
    approximate: HnswSettings = field(default_factory=HnswSettings)


@dataclass
class CompareSettings:
    n_boot: int = MISSING
    ci_level: float = MISSING
    seed: int = MISSING
    measures: list[str] = MISSING
    rbo_p: float = MISSING
    drop_zero_rows: bool = MISSING
    subsets: list[str] = MISSING
    variables: list[str] = MISSING
    ambiguity_rtol: float = MISSING


@dataclass
class AudioSettings:
    sample_rate: int = MISSING
    resample_quality: int = MISSING
    patch_hop: int = MISSING
    vggish_patch_hop: int = MISSING
    min_duration: float = MISSING
    silence_rms: float = MISSING
    track_id: str = MISSING
    extensions: list[str] = MISSING
    workers: int = MISSING
    cache_dir: str = MISSING


@dataclass
class ModelSpecSettings:
    dataset: str = MISSING
    architecture: str = MISSING
    frontend: str = MISSING
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
    source: str = MISSING
    tf_python: str = MISSING
    list: StrList = MISSING
    specs: dict[str, ModelSpecSettings] = MISSING


@dataclass
class PathsSettings:
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
    architectures: list[str] = MISSING
    datasets: list[str] = MISSING
    layers: list[str] = MISSING


@dataclass
class CfSelectSettings:
    factors: list[int] = MISSING
    test_ratio: float = MISSING
    k: int = MISSING
    seeds: list[int] = MISSING


@dataclass
class CfSettings:
    aggregate: str = MISSING
    event_weights: dict[str, float] = MISSING
    min_user_interactions: int = MISSING
    min_track_interactions: int = MISSING
    max_user_quantile: float = MISSING
    restrict_to_cb: bool = MISSING
    select: CfSelectSettings = field(default_factory=CfSelectSettings)
    extra_factors: list[int] = MISSING
    regularization: float = MISSING
    alpha: float = MISSING
    iterations: int = MISSING
    seed: int = MISSING
    deterministic: bool = MISSING


@dataclass
class TsneSettings:
    implementation: str = MISSING
    perplexity: float = MISSING
    learning_rate: Any = MISSING  # "auto" or a number
    early_exaggeration_iter: int = MISSING
    n_iter: int = MISSING
    metric: str = MISSING


@dataclass
class UmapSettings:
    n_neighbors: int = MISSING
    min_dist: float = MISSING
    metric: str = MISSING
    n_epochs: int | None = None


@dataclass
class ProjectionSettings:
    spaces: list[str] = MISSING
    methods: list[str] = MISSING
    seeds: list[int] = MISSING
    distances: list[str] = MISSING
    init: str = MISSING
    n_jobs: int = MISSING
    color_by: str | None = None
    trust_max_tracks: int = MISSING
    tsne: TsneSettings = field(default_factory=TsneSettings)
    umap: UmapSettings = field(default_factory=UmapSettings)


@dataclass
class ClusterSettings:
    address: str | None = None
    n_workers: int = MISSING
    threads_per_worker: int = MISSING
    memory_limit: str = MISSING
    connect_timeout: float = MISSING
    retries: int = MISSING
    extract: bool = MISSING
    neighbors: bool = MISSING


@dataclass
class ListeningAppSettings:
    host: str = MISSING
    port: int = MISSING
    db: str = MISSING
    start: float = MISSING
    play: float = MISSING
    title: str = MISSING


@dataclass
class ListeningSimulateSettings:
    n_participants: int = MISSING
    effect: float = MISSING
    position_effect: float = MISSING
    participant_sd: float = MISSING
    noise_sd: float = MISSING
    skip_rate: float = MISSING
    seed: int = MISSING


@dataclass
class ListeningStatsSettings:
    responses: str = MISSING
    alpha: float = MISSING
    min_participants: int = MISSING


@dataclass
class ListeningSettings:
    spaces: list[str] | None = None
    k: int = MISSING
    cutoff: int = MISSING
    distance: str = MISSING
    references: list[str] | None = None
    n_references: int = MISSING
    reference_space: str = MISSING
    group_by: str | None = None
    playlist_length: int = MISSING
    seed: int = MISSING
    app: ListeningAppSettings = field(default_factory=ListeningAppSettings)
    simulate: ListeningSimulateSettings = field(default_factory=ListeningSimulateSettings)
    stats: ListeningStatsSettings = field(default_factory=ListeningStatsSettings)


@dataclass
class ZenodoSettings:
    base_url: str = MISSING
    token_env: str = MISSING
    token_file: str | None = None
    retries: int = MISSING
    backoff: float = MISSING
    timeout: float = MISSING


@dataclass
class ReleaseSettings:
    title: str = MISSING
    version: str = MISSING
    creators: list[dict[str, str]] = MISSING
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
    enabled: bool = MISSING
    tracking_uri: str = MISSING
    artifact_root: str = MISSING
    experiment: str = MISSING


@dataclass
class DemoSettings:
    n_clips: int = MISSING
    duration: float = MISSING
    styles: list[str] = MISSING
    seed: int = MISSING
    n_users: int = MISSING
    events_per_user: int = MISSING
    log_seed: int = MISSING


@dataclass
class DataSettings:
    name: str = MISSING
    synthetic: bool = MISSING
    audio_dir: str = MISSING
    interactions: str = MISSING
    small_indices: str | None = None
    tracks: str | None = None
    latentjam_dir: str | None = None
    demo: DemoSettings | None = None


@dataclass
class Settings:
    """The whole configuration (``conf/config.yaml`` with its groups, = ``params.yaml``)."""

    cutoffs: list[int] = MISSING
    neighbors: NeighborsSettings = field(default_factory=NeighborsSettings)
    subset: str = MISSING
    compare: CompareSettings = field(default_factory=CompareSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    models: ModelsSettings = field(default_factory=ModelsSettings)
    paths: PathsSettings = field(default_factory=PathsSettings)
    select: SelectSettings = field(default_factory=SelectSettings)
    distance: str = MISSING
    cf: CfSettings = field(default_factory=CfSettings)
    projection: ProjectionSettings = field(default_factory=ProjectionSettings)
    release: ReleaseSettings = field(default_factory=ReleaseSettings)
    listening: ListeningSettings = field(default_factory=ListeningSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    mlflow: MlflowSettings = field(default_factory=MlflowSettings)
    data: DataSettings = field(default_factory=DataSettings)


def typed(cfg: Any) -> Settings:
    """Merge a plain or OmegaConf configuration into the schema (raises OmegaConf errors).

    Parameters
    ----------
    cfg : mapping or DictConfig

    Returns
    -------
    Settings
        An OmegaConf object with the :class:`Settings` schema (attribute access, typed).
    """
    from omegaconf import OmegaConf

    schema = OmegaConf.structured(Settings)
    merged = OmegaConf.merge(schema, cfg)
    return merged  # type: ignore[return-value]

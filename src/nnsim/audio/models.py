"""Model registry: which graphs exist, where, with which input/output nodes and dimensions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnsim.errors import ConfigError, InputError, preview
from nnsim.settings import ModelsSettings

#: Official Essentia graph file per model (download stage, CC BY-NC-SA 4.0).
OFFICIAL_GRAPHS = {
    "msd-musicnn": "msd-musicnn-1.pb",
    "mtat-musicnn": "mtt-musicnn-1.pb",
    "msd-vgg": "msd-vgg-1.pb",
    "mtat-vgg": "mtt-vgg-1.pb",
    "audioset-vggish": "audioset-vggish-3.pb",
}
OFFICIAL_URL = "https://essentia.upf.edu/models"


@dataclass
class ModelSpec:
    """One content-based model.

    Attributes
    ----------
    name : str
        e.g. ``msd-musicnn``.
    dataset, architecture : str
        Training dataset and architecture (metadata of its spaces).
    frontend : str
        ``musicnn`` (187x96 mel patches, shared by MusiCNN and VGG) or ``vggish``.
    graph : Path
        Frozen graph file.
    input : str
        Input node.
    layers : dict of str to str
        Layer name (``embeddings``/``taggrams``) to output node.
    dims : dict of str to int
        Expected output dimension per layer.
    sha256 : str or None
        Expected hash of the graph file (None: not pinned).
    checkpoint : str or None
        Folder of the musicnn wheel checkpoint it is frozen from (None: no offline source).
    """

    name: str
    dataset: str
    architecture: str
    frontend: str
    graph: Path
    input: str
    layers: dict[str, str]
    dims: dict[str, int]
    sha256: str | None = None
    checkpoint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def space_name(self, layer: str) -> str:
        """Name of the space this model gives at ``layer``."""
        return f"{self.name}-{layer}"


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: Input node of the graphs frozen from the musicnn wheel (mel patches [batch, 187, 96]).
MUSICNN_INPUT = "model/Placeholder"


def model_specs(models: ModelsSettings, models_dir: str | Path) -> list[ModelSpec]:
    """Specs of the models in ``models.list`` with their graph paths.

    Graphs frozen from the musicnn wheel live in ``<models_dir>/frozen/<name>.pb``; with
    ``models.source: official`` (or without an offline source, like VGGish) the official graph
    in ``<models_dir>/official/`` is used.

    Parameters
    ----------
    models : ModelsSettings
        ``models`` of the settings.
    models_dir : path
        ``paths.models_dir``.
    """
    mcfg = models
    out = []
    for name in mcfg.list:
        if name not in mcfg.specs:
            raise ConfigError(
                f"models.list names unknown model {name!r}; valid: {', '.join(mcfg.specs)}."
            )
        s = mcfg.specs[name]
        official = Path(models_dir) / "official" / OFFICIAL_GRAPHS.get(name, f"{name}.pb")
        if s.graph:
            graph = Path(s.graph)
        elif mcfg.source == "official" or not s.checkpoint:
            graph = official
        else:
            graph = Path(models_dir) / "frozen" / f"{name}.pb"
        out.append(
            ModelSpec(
                name=name,
                dataset=s.dataset,
                architecture=s.architecture,
                frontend=s.frontend,
                graph=graph,
                # the input node of every graph frozen from the musicnn wheel (a fact of the
                # graphs, not a setting); official graphs name theirs in models.specs
                input=s.input or MUSICNN_INPUT,
                layers=dict(s.layers),
                dims={k: int(v) for k, v in s.dims.items()},
                # Pins are for the graphs frozen here; official files are pinned by their
                # `dvc import-url` .dvc files instead.
                sha256=None if graph == official else s.sha256,
                checkpoint=None if mcfg.source == "official" else s.checkpoint,
            )
        )
    return out


def download_hint(spec: ModelSpec) -> str:
    """The command that fetches a model's official graph (needs internet)."""
    fname = OFFICIAL_GRAPHS.get(spec.name, spec.graph.name)
    sub = {"msd": "msd", "mtat": "mtt", "audioset": "audioset"}.get(spec.dataset, spec.dataset)
    folder = "feature-extractors/vggish" if spec.frontend == "vggish" else f"autotagging/{sub}"
    return f"dvc import-url {OFFICIAL_URL}/{folder}/{fname} {spec.graph}"


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, object]]:
    """Top-level (field, wire type, value) of a protobuf message (bytes for wire type 2)."""
    out: list[tuple[int, int, object]] = []
    i = 0
    while i < len(buf):
        tag, i = _varint(buf, i)
        field_no, wire = tag >> 3, tag & 7
        val: object
        if wire == 0:
            val, i = _varint(buf, i)
        elif wire == 1:
            val, i = buf[i : i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            val, i = buf[i : i + n], i + n
        elif wire == 5:
            val, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((field_no, wire, val))
    return out


def graph_nodes(path: str | Path) -> list[tuple[str, str]]:
    """``(name, op)`` of every node of a frozen TensorFlow GraphDef, without TensorFlow.

    Reads the protobuf wire format directly (GraphDef.node = field 1; NodeDef.name = 1,
    NodeDef.op = 2), so the runtime environment needs no TensorFlow Python package.
    """
    try:
        nodes = []
        for field_no, wire, val in _fields(Path(path).read_bytes()):
            if field_no == 1 and wire == 2:
                name = op = ""
                assert isinstance(val, bytes)
                for f2, w2, v2 in _fields(val):
                    if w2 == 2 and f2 in (1, 2):
                        assert isinstance(v2, bytes)
                        if f2 == 1:
                            name = v2.decode()
                        else:
                            op = v2.decode()
                nodes.append((name, op))
        return nodes
    except (ValueError, IndexError, UnicodeDecodeError):
        raise InputError(f"{path}: not a TensorFlow GraphDef (.pb) file.") from None


#: Node types worth proposing as outputs when a configured node is missing.
_OUTPUT_OPS = {
    "Sigmoid",
    "Softmax",
    "BiasAdd",
    "Add",
    "AddV2",
    "Reshape",
    "Relu",
    "MatMul",
    "Identity",
    "Mean",
    "MaxPool",
}


def check_nodes(spec: ModelSpec) -> None:
    """The input and every layer node exist in the graph; else list candidate outputs."""
    nodes = graph_nodes(spec.graph)
    names = {n for n, _ in nodes}
    wanted = [spec.input, *spec.layers.values()]
    missing = [n for n in wanted if n not in names]
    if missing:
        cands = [
            n
            for n, op in nodes
            if op in _OUTPUT_OPS and "/cond/" not in n and not n.endswith("/read")
        ][::-1]  # nearest the output first
        raise InputError(
            f"model {spec.name}: node(s) {missing} not in {spec.graph}. Candidate outputs "
            f"(last layers first): {preview(cands, 25)}. "
            f"Fix models.specs.{spec.name}.layers/input in conf/."
        )


def check_graph(spec: ModelSpec) -> None:
    """Graph present and (if pinned) with the expected hash; else a clear error."""
    if not spec.graph.is_file():
        raise InputError(
            f"model {spec.name}: graph {spec.graph} not found. "
            + (
                "Build it with `dvc repro models`."
                if spec.checkpoint
                else f"Fetch it (needs internet): {download_hint(spec)}"
            )
        )
    if spec.sha256:
        got = file_sha256(spec.graph)
        if got != spec.sha256:
            raise InputError(
                f"model {spec.name}: {spec.graph} has sha256 {got}, expected {spec.sha256}. "
                "Rebuild it (`dvc repro models`) or fetch the pinned file again"
                + ("" if spec.checkpoint else f" ({download_hint(spec)})")
                + "; update models.specs.*.sha256 in conf/ only if you changed the model "
                "on purpose."
            )
    check_nodes(spec)

"""Freeze the musicnn wheel's TF1 training checkpoints into graphs Essentia can run.

Runs in its own environment with TensorFlow (``.venv-tf``; see the Makefile): TensorFlow's
Python package and essentia-tensorflow must not share a process.  It imports nothing from
nnsim and only TensorFlow and numpy, so it is called by path::

    .venv-tf/bin/python src/nnsim/audio/convert_musicnn.py freeze CKPT_DIR OUT.pb \
        --outputs model/Sigmoid model/batch_normalization_10/batchnorm/add_1
    .venv-tf/bin/python src/nnsim/audio/convert_musicnn.py reference CKPT_DIR PATCHES.npy OUT.npz \
        --outputs ...

``freeze``: read the checkpoint's own graph (``.meta``, not a rebuild from the wheel's
``models.py``, whose MSD_vgg pooling is wrong), drop stale ``_output_shapes`` attributes,
turn the ``is_training`` placeholder into a constant False (batch-norm uses moving statistics,
dropout is off), restore the variables and fold them into constants, prune everything the
requested outputs do not need (labels, optimiser), and write the GraphDef deterministically.

``reference``: restore the checkpoint in TensorFlow and evaluate the outputs on given mel
patches (with ``is_training`` fed False), to check the frozen graph run by Essentia.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import meta_graph_pb2

tf.disable_eager_execution()

INPUT = "model/Placeholder"
IS_TRAINING = "model/Placeholder_2"


def load_meta(ckpt_dir: Path) -> meta_graph_pb2.MetaGraphDef:
    meta_path = ckpt_dir / ".meta"
    if not meta_path.is_file():
        sys.exit(
            f"{ckpt_dir}: no .meta file; expected a musicnn checkpoint folder (e.g. MSD_musicnn)"
        )
    mg = meta_graph_pb2.MetaGraphDef()
    mg.ParseFromString(meta_path.read_bytes())
    for node in mg.graph_def.node:
        if "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]
    return mg


def check_nodes(mg: meta_graph_pb2.MetaGraphDef, names: list[str]) -> None:
    known = {n.name for n in mg.graph_def.node}
    missing = [n for n in names if n not in known]
    if missing:
        cands = [
            n.name
            for n in mg.graph_def.node
            if n.name.startswith("model/")
            and n.op in ("Sigmoid", "BiasAdd", "Add", "Reshape", "AddV2", "Relu", "MaxPool")
        ]
        sys.exit(f"node(s) {missing} not in the graph; candidate outputs: {cands[:60]}")


def freeze(ckpt_dir: Path, out: Path, outputs: list[str], onnx_out: Path | None = None) -> dict:
    mg = load_meta(ckpt_dir)
    check_nodes(mg, [INPUT, IS_TRAINING, *outputs])
    for node in mg.graph_def.node:
        if node.name == IS_TRAINING:
            node.op = "Const"
            node.attr.clear()
            node.attr["dtype"].type = tf.bool.as_datatype_enum
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(False, dtype=tf.bool))
    with tf.Graph().as_default() as graph:
        saver = tf.train.import_meta_graph(mg, clear_devices=True)
        with tf.Session(graph=graph) as sess:
            saver.restore(sess, str(ckpt_dir) + "/")
            frozen = tf.graph_util.convert_variables_to_constants(
                sess, graph.as_graph_def(), [o.split(":")[0] for o in outputs]
            )
    frozen = tf.graph_util.extract_sub_graph(frozen, [o.split(":")[0] for o in outputs])
    for node in frozen.node:  # attributes newer than Essentia's TensorFlow 2.5 runtime knows
        for attr in ("grad_a", "grad_b"):
            if attr in node.attr:
                del node.attr[attr]
    data = frozen.SerializeToString(deterministic=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    info = {
        "graph": out.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "input": INPUT,
        "outputs": outputs,
        "n_nodes": len(frozen.node),
        "source": str(ckpt_dir.name),
    }
    if onnx_out is not None:
        info["onnx"] = to_onnx(frozen, onnx_out, outputs)
    return info


#: ONNX operator set of the converted graphs (onnxruntime runs it).
OPSET = 17


def to_onnx(frozen, out: Path, outputs: list[str]) -> dict:  # type: ignore[no-untyped-def]
    """The frozen graph as ONNX (tf2onnx, in this TensorFlow environment), written atomically.

    The runtime process then needs no TensorFlow: onnxruntime runs the same graph on the
    same mel patches (tested against Essentia's TensorflowPredict).
    """
    import tf2onnx

    names = [o if ":" in o else o + ":0" for o in outputs]
    model, _ = tf2onnx.convert.from_graph_def(
        frozen, input_names=[INPUT + ":0"], output_names=names, opset=OPSET
    )
    data = model.SerializeToString(deterministic=True)
    tmp = out.with_suffix(".onnx.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return {
        "graph": out.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "opset": OPSET,
        "tf2onnx": tf2onnx.__version__,
    }


def reference(ckpt_dir: Path, patches: Path, out: Path, outputs: list[str]) -> None:
    mg = load_meta(ckpt_dir)
    check_nodes(mg, [INPUT, IS_TRAINING, *outputs])
    x = np.load(patches).astype(np.float32)
    with tf.Graph().as_default() as graph:
        saver = tf.train.import_meta_graph(mg, clear_devices=True)
        with tf.Session(graph=graph) as sess:
            saver.restore(sess, str(ckpt_dir) + "/")
            fetch = [graph.get_tensor_by_name(o if ":" in o else o + ":0") for o in outputs]
            feed = {
                graph.get_tensor_by_name(INPUT + ":0"): x,
                graph.get_tensor_by_name(IS_TRAINING + ":0"): False,
            }
            vals = sess.run(fetch, feed_dict=feed)
    np.savez(out, **{o: v for o, v in zip(outputs, vals, strict=False)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("freeze")
    f.add_argument("ckpt_dir", type=Path)
    f.add_argument("out", type=Path)
    f.add_argument("--outputs", nargs="+", required=True)
    f.add_argument("--onnx", type=Path, default=None, help="also write the graph as ONNX here")
    r = sub.add_parser("reference")
    r.add_argument("ckpt_dir", type=Path)
    r.add_argument("patches", type=Path)
    r.add_argument("out", type=Path)
    r.add_argument("--outputs", nargs="+", required=True)
    args = ap.parse_args()
    if args.cmd == "freeze":
        print(json.dumps(freeze(args.ckpt_dir, args.out, args.outputs, args.onnx)))
    else:
        reference(args.ckpt_dir, args.patches, args.out, args.outputs)


if __name__ == "__main__":
    main()

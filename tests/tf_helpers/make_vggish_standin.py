"""Build a tiny stand-in for the VGGish graph (TensorFlow environment only).

Same input/output names and shapes as Essentia's ``audioset-vggish-3.pb``: input
``model/Placeholder`` [batch, 96, 64] (mel patches), output ``model/vggish/embeddings``
[batch, 128].  Its weights are random (seeded) and written next to it, so a test can
recompute the outputs independently.  It stands in for the real weights, which have no
offline source; it is never used to produce data.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow.compat.v1 as tf

tf.disable_eager_execution()

out, weights = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
W = (rng.standard_normal((96 * 64, 128)) / 80.0).astype(np.float32)
b = rng.standard_normal(128).astype(np.float32)
with tf.Graph().as_default() as g:
    x = tf.placeholder(tf.float32, [None, 96, 64], name="model/Placeholder")
    flat = tf.reshape(x, [-1, 96 * 64])
    y = tf.nn.bias_add(tf.matmul(flat, tf.constant(W)), tf.constant(b))
    tf.identity(y, name="model/vggish/embeddings")
    gd = g.as_graph_def()
    for node in gd.node:  # attributes newer than Essentia's TensorFlow 2.5 runtime
        for attr in ("grad_a", "grad_b"):
            if attr in node.attr:
                del node.attr[attr]
    data = gd.SerializeToString(deterministic=True)
with open(out, "wb") as f:
    f.write(data)
np.savez(weights, W=W, b=b)

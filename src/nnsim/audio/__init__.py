"""Audio: synthetic demo corpus, model registry and Essentia-TensorFlow extraction."""

"""LatentJam-compatible import and export, the Zenodo bundle and the upload client."""

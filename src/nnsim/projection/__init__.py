"""2-D projections of spaces (PCA, t-SNE, UMAP), scored like any other space."""

"""The listening test: playlists from the most dissimilar spaces, (next) the web experiment."""

"""Collaborative filtering: interaction logs, filtering, ALS (implicit) and its evaluation."""

"""The static results site: the paper's figures and tables, with their provenance."""

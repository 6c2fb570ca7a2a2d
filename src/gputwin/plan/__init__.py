"""Searches over the performance models: training layouts (and later serving configs)."""

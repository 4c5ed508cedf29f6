"""The science: data, noise, models and their training, metrics, t-SNE maps and baselines.
Imports neither the pipeline nor the report.

Kept empty of code: a re-export here would pull the whole wing into the hash closure of
every run that imports one of its modules (renoise.pipeline.sources).
"""

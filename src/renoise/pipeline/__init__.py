"""The pipeline: experiments read and planned, run hashes and markers, the lock, and the runner
that executes notebooks here or on a dask cluster. Imports the science, never the report.

Kept empty of code: a re-export here would pull the whole wing into the hash closure of
every run that imports one of its modules (renoise.pipeline.sources).
"""

"""The report: every model evaluated, statistics, tables and their styles, figures, Findings and
the HTML renderer. Imports the science and the pipeline.

Kept empty of code: a re-export here would pull the whole wing into the hash closure of
every run that imports one of its modules (renoise.pipeline.sources).
"""

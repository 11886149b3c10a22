"""Metrics, drift and the learning loop, GUI-free.

Pure functions and tallies over plain rows (`rows.Case`: a ticket with its decisions), fed by
`query` (which streams the rows out of the store, filters pushed into SQL) and assembled by
`report` into one JSON-able dict: the output of `signoff metrics --json` and the data behind the
dashboard. Every figure is about the tickets created in the date range and their decisions.
"""

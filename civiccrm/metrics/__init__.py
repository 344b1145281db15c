"""Metrics: named figures computed in the database (GROUP BY and window functions).

``civiccrm.metrics.summary.summary`` is the first report: opened, closed, backlog,
days to close, on-time shares and channel mix for a period;
``civiccrm.metrics.matrix.matrix`` is the 311 matrix (timeliness against satisfaction per
work group) of the council-monthly report pack.
"""

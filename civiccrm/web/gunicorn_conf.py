"""How the web app is served: gunicorn settings shared by `civiccrm serve`, the tests and the benchmarks.

Gevent workers, not sync ones: a sync worker is held for as long as one client takes to send
its request, so a handful of half-sent requests stalled the whole service. With gevent each
connection is a greenlet, and a slow or idle client holds only its own (psycopg 3 and SQLite
calls cooperate or are short). Run it as ``gunicorn -c python:civiccrm.web.gunicorn_conf
civiccrm.web.wsgi:app``; a public deployment still puts a buffering proxy in front
(``deploy/nginx.conf``, docs/serving.md).
"""

import os

import gunicorn.http.wsgi

worker_class = "gevent"
workers = min(8, (os.cpu_count() or 1) + 1)
worker_connections = 1000
"""Connections one worker holds at once (slow clients included)."""
timeout = 30
graceful_timeout = 5
keepalive = 5
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
logger_class = "civiccrm.web.access_log.RedactingLogger"
"""No query strings, referrers or token-like path segments in the access log (see access_log.py)."""
errorlog = "-"
loglevel = "warning"


def on_starting(server):
    """Answer without naming the server software and its version (gunicorn/23.0.0)."""
    gunicorn.http.wsgi.SERVER = "civiccrm"


def worker_exit(server, worker):
    """Close the worker's log handlers before the interpreter tears down: otherwise each one, collected after
    gevent's thread module is gone, printed a TypeError traceback ("Exception ignored in _removeHandlerRef") as
    every worker stopped."""
    import logging

    logging.shutdown()
    del logging._handlerList[:]  # what _removeHandlerRef would take the (by then broken) module lock to edit


def post_fork(server, worker):
    """Ctrl-C (SIGINT, sent to every process of the terminal's group) and the arbiter's SIGQUIT stop a worker
    the way SIGTERM does: it stops accepting, finishes what it holds (graceful_timeout) and exits. gunicorn's
    gevent worker instead ran ``sys.exit`` in a greenlet 0.1 s after the signal, which raced the worker's own
    exit and printed a SystemExit traceback from gevent's hub for each worker. Set here, before the worker
    installs its signal handlers, so that a worker still loading the app is covered too."""
    worker.handle_quit = worker.handle_exit

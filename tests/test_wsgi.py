"""The served app: what it holds for the process's life is out of the garbage collector's sight."""

import os
import subprocess
import sys

import pytest


def test_the_wsgi_app_freezes_what_it_loaded(deployment, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the same import on either database; SQLite's is enough")
    probe = ("import gc; before = gc.get_freeze_count(); import civiccrm.web.wsgi; "
             "print(before, gc.get_freeze_count())")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "CIVICCRM_DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    before, after = map(int, result.stdout.split())
    assert before == 0 and after > 50_000  # the profile, plugins and tables: about 160,000 objects

"""`civiccrm survey ...`: survey plans, draws, dispatch, imports, results and action plans."""

"""`civiccrm sla ...`: SLA policies, breach scan, recompute and comparison."""

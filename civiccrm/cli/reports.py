"""`civiccrm report ...`: figures for a period."""

"""Import of Kansas City open-data 311 CSV exports (`civiccrm import kcmo`)."""

"""`civiccrm serve`: run the web app (Open311 API, public pages) on a host and port."""

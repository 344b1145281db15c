"""`civiccrm import FORMAT FILE...`: bulk importers registered by plugins."""

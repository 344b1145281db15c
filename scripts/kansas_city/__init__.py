"""Build the Kansas City profile's CSVs from the city's open data (``python -m scripts.kansas_city.build_taxonomy``)."""

"""The Open311 GeoReport v2 API under /open311/v2/: endpoints, formats, parameters."""

"""``GET /v1/models``, ``GET /health`` and ``GET /metrics``."""

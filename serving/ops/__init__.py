"""Operations: API keys, request size limit, access log, Prometheus metrics."""

"""Process-level end-to-end tests: ``otel-dify`` runs as a subprocess against the in-process Dify simulator."""

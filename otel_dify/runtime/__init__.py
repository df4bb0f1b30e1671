"""The running service: poll schedule, exporter self-statistics, health HTTP server, shutdown."""

"""The running service: poll schedule, exporter self-statistics, shutdown."""

"""Statistics collection: which Dify endpoints to read, and how to turn their daily rows into figures."""

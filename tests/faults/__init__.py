"""Fault injection, shutdown and restart proofs, and the short soak run."""

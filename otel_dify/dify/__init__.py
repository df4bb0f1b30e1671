"""Dify HTTP API access: transport, authentication and typed endpoint calls."""

"""Audit replay fixtures and recorded scenario logs."""

"""Persistence and I/O adapters: store URLs, files."""

"""Scenarios built from the source reports, generated from a fixed seed."""

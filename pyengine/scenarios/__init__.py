"""Scenarios built from the source reports, generated from a fixed seed: pilot 2 (`pyengine
demo`), the rent-to-own years 2009–2018 (`replays/rent_to_own_2009_2018`) and the churn of a
small office (benches and tests).

Not part of the public API: they make the demo, the recorded replays and the test and bench
logs, and may change with them (a recorded scenario's committed files pin its output).
"""

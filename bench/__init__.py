"""Benchmarks: each scenario prints its figures and the ratio to a raw baseline run in the same process."""

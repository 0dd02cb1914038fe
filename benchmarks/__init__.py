"""Benchmarks of masknet-edge; `make bench` runs them all and rewrites BENCHMARKS.md."""

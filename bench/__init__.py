"""Benchmarks: `make bench` (python -m bench). They print figures beside a baseline measured in
the same run; they are never tests and assert nothing."""

"""fusets_dl benchmarks: ``python -m benchmarks [--quick]`` prints a table."""

"""What the tests and the benchmarks share: servers and hubs in subprocesses, a loopback
hub that fails on cue, a fake NVML, a PostgreSQL server, the REST contract, and the
counters behind docs/reliability.md."""

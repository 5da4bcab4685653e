"""Demo configuration: short sampling interval and cost rates, so the panel shows
live figures and a cost that grows while you watch."""

c = get_config()  # type: ignore[name-defined]  # noqa: F821

c.UsageApp.sample_interval = 1.0
c.UsageApp.checkpoint_interval = 5

# Rates in US dollars, roughly those of a public cloud's general-purpose VMs.
c.CostModel.currency = "USD"
c.CostModel.basis = "max"
c.CostModel.cpu_core_hour = 0.04
c.CostModel.memory_gib_hour = 0.005
c.CostModel.gpu_hour = 2.5
c.CostModel.disk_gib_month = 0.10
c.CostModel.server_hour = 0.01

# This laptop-sized demo has no container limits: pretend the spawner gave 2 cores
# and 4 GiB, so the meters have something to measure against.
c.UsageApp.cpu_limit_cores = 2
c.UsageApp.memory_limit_bytes = 4 * 1024**3

"""Server for the Galata UI tests: Galata's defaults plus a demo cost configuration."""

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # type: ignore[name-defined]  # noqa: F821
configure_jupyter_server(c)
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.allow_root = True
c.UsageApp.sample_interval = 0.5
c.UsageApp.checkpoint_interval = 2
c.CostModel.currency = "USD"
c.CostModel.cpu_core_hour = 0.05
c.CostModel.memory_gib_hour = 0.01
c.CostModel.server_hour = 0.02

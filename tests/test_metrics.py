"""Prometheus exposition: our endpoint, the server's /metrics, promtool's lint."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
from support.in_process import wait_for_sample


async def test_metrics_endpoint_serves_our_figures_only(jp_fetch: Any, usage_get: Any) -> None:
    await wait_for_sample(usage_get)
    response = await jp_fetch("api", "usage", "v1", "metrics")
    text = response.body.decode()
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "jupyter_usage_memory_bytes " in text
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert names
    assert all(name.startswith("jupyter_usage_") for name in names)


async def test_collector_is_on_the_servers_metrics(jp_fetch: Any, usage_get: Any) -> None:
    await wait_for_sample(usage_get)
    text = (await jp_fetch("metrics")).body.decode()
    assert text.count("# TYPE jupyter_usage_memory_bytes gauge") == 1


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
async def test_promtool_finds_no_lint_problems(jp_fetch: Any, usage_get: Any) -> None:
    await wait_for_sample(usage_get)
    text = (await jp_fetch("api", "usage", "v1", "metrics")).body
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_hub_labels_come_from_the_spawner_environment() -> None:
    from jupyter_usage.metrics import hub_labels

    assert hub_labels({}) == {}
    assert hub_labels({"JUPYTERHUB_USER": "alice", "JUPYTERHUB_SERVER_NAME": "gpu"}) == {
        "username": "alice",
        "servername": "gpu",
    }
    assert hub_labels({"JUPYTERHUB_USER": "bob"}) == {"username": "bob", "servername": ""}


# -- the collector alone, over real samples and a real session recorder ------------------------

HOUR = 3600.0


def make_sample(
    t: float, *, idle: bool = False, kernels: tuple[Any, ...] = (), cores: float = 1.0
) -> Any:
    from jupyter_usage.sampling.sample import CpuUsage, KernelUsage, MemoryUsage, Sample

    kernel_rows = tuple(
        KernelUsage(
            id=kernel_id,
            name="python3",
            path="a.ipynb",
            pid=100,
            cpu_cores=0.5,
            memory_bytes=2**28,
            gpu_memory_bytes=None,
        )
        for kernel_id in kernels
    )
    return Sample(
        time=t,
        cpu=CpuUsage(cores=cores, limit_cores=2.0),
        memory=MemoryUsage(used_bytes=2**30, limit_bytes=4 * 2**30),
        kernels=kernel_rows,
        idle=idle,
    )


class FakeSampler:
    """The two attributes and the latest sample the collector reads from a `Sampler`."""

    def __init__(self) -> None:
        self.latest: Any = None
        self.cpu_seconds_total = 0.01
        self.ticks_total = 0


class App:
    """The parts of `UsageApp` the collector reads; the recorder is the real one."""

    def __init__(self, tmp_path: Any, per_kernel: bool = False, **rates: float) -> None:
        from jupyter_usage.cost import Rates
        from jupyter_usage.session import SessionRecorder
        from jupyter_usage.store import SessionStore

        self.sampler = FakeSampler()
        self.metrics_per_kernel = per_kernel
        self.recorder = SessionRecorder(
            SessionStore(tmp_path / "sessions.sqlite"),
            Rates(basis="allocated", **rates),
            started=0.0,
            user="alice",
            server_name="",
            checkpoint_interval_seconds=1e9,
        )

    def feed(self, sample: Any) -> None:
        self.sampler.latest = sample
        self.sampler.ticks_total += 1
        self.recorder.on_sample(sample)


def scrape(collector: Any) -> dict[str, list[Any]]:
    """Samples by name, as Prometheus would read them from the exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    text = collector.exposition()[0].decode()
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def costs(collector: Any) -> dict[str, float]:
    return {s.labels["resource"]: s.value for s in scrape(collector)["jupyter_usage_cost_total"]}


LABELS = {"username": "alice", "servername": "gpu"}


def test_every_series_carries_username_and_servername(tmp_path: Any) -> None:
    from jupyter_usage.metrics import UsageCollector

    app = App(tmp_path, cpu_core_hour=1.0)
    collector = UsageCollector(app, constant_labels=LABELS)
    collector.set_groups(["physics"])
    app.feed(make_sample(0.0, kernels=("k1",)))
    app.feed(make_sample(10.0, kernels=("k1",)))
    samples = scrape(collector)
    assert "jupyter_usage_cpu_cores" in samples
    assert "jupyter_usage_cost_total" in samples
    for name, rows in samples.items():
        for row in rows:
            assert row.labels["username"] == "alice", name
            assert row.labels["servername"] == "gpu", name


def test_group_info_has_one_series_per_group_and_none_outside_a_hub(tmp_path: Any) -> None:
    from jupyter_usage.metrics import UsageCollector

    app = App(tmp_path)
    collector = UsageCollector(app, constant_labels=LABELS)
    app.feed(make_sample(0.0))
    assert "jupyter_usage_user_group_info" not in scrape(collector)
    collector.set_groups(["physics", "gpu-users", "physics"])
    rows = scrape(collector)["jupyter_usage_user_group_info"]
    assert sorted(r.labels["group"] for r in rows) == ["gpu-users", "physics"]
    assert {r.value for r in rows} == {1.0}
    assert {r.labels["username"] for r in rows} == {"alice"}


def test_cost_counter_per_resource_matches_the_session_and_never_goes_down(
    tmp_path: Any,
) -> None:
    from jupyter_usage.cost import Rates
    from jupyter_usage.metrics import UsageCollector

    app = App(tmp_path, cpu_core_hour=2.0, memory_gib_hour=0.5, server_hour=1.0)
    collector = UsageCollector(app, constant_labels=LABELS)
    app.feed(make_sample(0.0))
    app.feed(make_sample(HOUR / 60))  # one minute: under the ledger's 60 s gap clamp
    first = costs(collector)
    assert set(first) == {"cpu", "memory", "gpu", "disk", "server"}
    # basis allocated: 2 cores x 2/h, 4 GiB x 0.5/h, the server at 1/h, for a minute
    assert first["cpu"] == pytest.approx(4.0 / 60)
    assert first["memory"] == pytest.approx(2.0 / 60)
    assert first["server"] == pytest.approx(1.0 / 60)
    assert first["gpu"] == 0.0
    assert {r.labels["currency"] for r in scrape(collector)["jupyter_usage_cost_total"]} == {"USD"}

    # The hub's groups arrive: cheaper rates reprice the whole session, the counter holds.
    app.recorder.set_rates(Rates(basis="allocated", cpu_core_hour=1.0, server_hour=1.0))
    app.feed(make_sample(2 * HOUR / 60))
    held = costs(collector)
    for resource, value in first.items():
        assert held[resource] >= value, resource
    assert held["cpu"] == pytest.approx(first["cpu"])  # 2 min at 1/h == 1 min at 2/h
    assert held["server"] == pytest.approx(2.0 / 60)
    for minute in range(3, 6):
        app.feed(make_sample(minute * HOUR / 60))
    later = costs(collector)
    assert later["cpu"] == pytest.approx(5 * 2.0 / 60)  # caught up and passed the mark
    assert later["memory"] == pytest.approx(first["memory"])  # now free: held for good


def test_hourly_rate_and_idle_figures(tmp_path: Any) -> None:
    from jupyter_usage.metrics import UsageCollector

    app = App(tmp_path, cpu_core_hour=3.0)
    collector = UsageCollector(app, constant_labels=LABELS)
    app.feed(make_sample(0.0, idle=False))
    app.feed(make_sample(30.0, idle=True))
    app.feed(make_sample(60.0, idle=True))
    app.feed(make_sample(90.0, idle=False))
    samples = scrape(collector)
    rates = {r.labels["resource"]: r.value for r in samples["jupyter_usage_cost_rate_per_hour"]}
    assert rates["cpu"] == pytest.approx(6.0)  # 2 cores allocated at 3/h
    assert sum(rates.values()) == pytest.approx(app.recorder.per_hour())
    (idle_seconds,) = samples["jupyter_usage_idle_seconds_total"]
    assert idle_seconds.value == pytest.approx(60.0)
    (idle_cost,) = samples["jupyter_usage_idle_cost_total"]
    assert idle_cost.value == pytest.approx(6.0 * 60 / HOUR)
    assert idle_cost.labels["currency"] == "USD"
    (idle,) = samples["jupyter_usage_idle"]
    assert idle.value == 0.0


def test_per_kernel_series_only_when_switched_on(tmp_path: Any) -> None:
    from jupyter_usage.metrics import UsageCollector

    off = App(tmp_path / "off")
    (tmp_path / "off").mkdir()
    off.feed(make_sample(0.0, kernels=("k1", "k2")))
    text = UsageCollector(off, constant_labels=LABELS).exposition()[0].decode()
    assert "kernel_id" not in text
    assert "jupyter_usage_kernels" in text  # the count stays

    (tmp_path / "on").mkdir()
    on = App(tmp_path / "on", per_kernel=True)
    on.feed(make_sample(0.0, kernels=("k1", "k2")))
    samples = scrape(UsageCollector(on, constant_labels=LABELS))
    rows = samples["jupyter_usage_kernel_memory_bytes"]
    assert sorted(r.labels["kernel_id"] for r in rows) == ["k1", "k2"]
    assert {r.labels["kernel_name"] for r in rows} == {"python3"}
    assert {r.value for r in samples["jupyter_usage_kernel_cpu_cores"]} == {0.5}
    assert "jupyter_usage_kernel_gpu_memory_bytes" not in samples  # unknown: no sample


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_lints_every_family_clean(tmp_path: Any) -> None:
    from jupyter_usage.metrics import UsageCollector

    app = App(tmp_path, per_kernel=True, cpu_core_hour=1.0)
    collector = UsageCollector(app, constant_labels=LABELS)
    collector.set_groups(["physics", "biology"])
    app.feed(make_sample(0.0, kernels=("k1",), idle=True))
    app.feed(make_sample(5.0, kernels=("k1",), idle=True))
    text = collector.exposition()[0]
    for name in ("user_group_info", "cost_total", "cost_rate_per_hour", "kernel_cpu_cores"):
        assert f"jupyter_usage_{name}".encode() in text
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


@pytest.mark.parametrize("usage_config", [{"UsageApp": {"metrics_per_kernel": True}}])
async def test_the_switch_is_a_trait_of_the_running_server(
    jp_fetch: Any, usage_get: Any, usage_app: Any
) -> None:
    assert usage_app.metrics_per_kernel is True
    await wait_for_sample(usage_get)
    usage_app.collector.set_groups(["physics"])
    text = (await jp_fetch("api", "usage", "v1", "metrics")).body.decode()
    assert 'jupyter_usage_user_group_info{group="physics"} 1.0' in text
    assert "jupyter_usage_cost_total{" in text

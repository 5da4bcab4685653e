"""The server extension: configuration, handlers, and the lifetime of the sampler."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, List, Unicode, default
from traitlets.config import Config

from .budget import NO_HUB, NO_SERVICE_NAME, BudgetReader, ServiceAnswer
from .config_errors import ConfigError, ignored_in_confd, take_out_refused
from .core import CoreSettings, UsageCore
from .cost import CostModel
from .handlers import handlers
from .hub_follow import HubFollower, deliver_last
from .hubclient import HubClient
from .kernel_history import KernelHistory
from .metrics import UsageCollector
from .oom import OomWatch
from .sampling.cgroup import CgroupReader
from .sampling.disk import DiskReader
from .sampling.gpu import GpuReader
from .sampling.network import NetworkReader
from .sampling.processes import ProcessTree
from .sampling.sampler import Sampler, Sources, series_values
from .series import SeriesStore
from .server_watch import ServerWatch
from .service_rates import ServiceRates
from .session import SessionRecorder
from .stop_signals import StopSignals
from .store import SessionStore
from .summary_event import EVENT_SCHEMA, emit_summary
from .traits import BoundedFloat, BoundedInt, NamedCaselessStrEnum
from .uploader import SessionUploader


class UsageApp(ExtensionApp):
    """Samples what this Jupyter server uses and serves it to the Usage panel."""

    name = "jupyter_usage"
    description = __doc__ or ""
    load_other_extensions = True
    classes = [CostModel]

    sample_interval = BoundedFloat(
        1.0,
        min=0.1,
        max=3600,
        config=True,
        help="""Seconds between two samples of CPU, memory, GPU, disk and network.

        One background thread takes every sample; the panel, the history and the
        Prometheus metrics all read it. Shorter intervals give livelier charts and
        cost a little more CPU. Must be between 0.1 and 3600. Default: 1.
        """,
    )

    checkpoint_interval = BoundedFloat(
        10.0,
        min=1,
        max=3600,
        config=True,
        help="""Seconds between two checkpoints of the session's totals to the store.

        A server that is killed without warning loses at most this much of its
        session. A KubeSpawner pod gets about one second to stop, so the summary
        written at stop must start from a recent checkpoint. Must be between 1 and
        3600. Default: 10.
        """,
    )

    data_dir = Unicode(
        config=True,
        help="""Directory of the per-user store of sessions (an SQLite file).

        Default: `jupyter_usage` under the Jupyter data directory of the user.
        """,
    )

    memory_limit_bytes = BoundedInt(
        0,
        min=0,
        config=True,
        help="""Memory limit of this server in bytes, for when neither the container's
        cgroup nor the spawner (`MEM_LIMIT`) says. 0 means unknown. Default: 0.
        """,
    )

    cpu_limit_cores = BoundedFloat(
        0.0,
        min=0,
        max=1e6,
        config=True,
        help="""CPU limit of this server in cores, for when neither the container's
        cgroup nor the spawner (`CPU_LIMIT`) says. 0 means unknown. Default: 0.
        """,
    )

    memory_metric = NamedCaselessStrEnum(
        ["rss", "pss", "uss"],
        "rss",
        config=True,
        help="""How to measure the memory of processes when the cgroup cannot be used:
        "rss" (resident set size, cheap), "pss" or "uss" (fairer for shared pages,
        but about 45 times as expensive to read). Default: "rss".
        """,
    )

    idle_after_seconds = BoundedFloat(
        60.0,
        min=1,
        max=7 * 86400,
        config=True,
        help="""Seconds without a busy kernel or any use of the server after which the
        server counts as idle in the session's accounting. Default: 60.
        """,
    )

    disk_paths = List(
        Unicode(),
        config=True,
        help="""Directories whose filesystems are reported (used, free and total bytes).

        Default: the server's root directory, and the home directory when it differs.
        """,
    )

    disk_reserved = NamedCaselessStrEnum(
        ["auto", "yes", "no"],
        "auto",
        config=True,
        help="""Whether the space of the first of `disk_paths` is reserved for this user,
        which decides what the "allocated" and "max" cost bases bill for disk: its whole
        size when reserved, else only the bytes used.

        "auto" (the default) counts a filesystem as reserved when it is mounted at that
        directory or below the home directory (a volume of its own, such as a PVC), and
        as shared when it is mounted above it (the host's root disk, a /home shared by
        everyone). "yes" says it is reserved (a quota, say, which cannot be seen from
        inside); "no" always bills used bytes. The snapshot's disk entries say which was
        decided (`reserved`, `reserved_source`).
        """,
    )

    disk_scan = Bool(
        False,
        config=True,
        help="""Whether to measure the size of the files under the first of `disk_paths`
        with a bounded background walk (at most 2 s and 200,000 files per walk, one walk
        every 10 minutes). Off by default: the filesystem figures come from statvfs.
        """,
    )

    gpu = Bool(
        True,
        config=True,
        help="""Whether to read NVIDIA GPUs through NVML. Without a driver the GPU
        section is simply absent. Default: True.
        """,
    )

    retention_days = BoundedFloat(
        365.0,
        min=0,
        max=36500,
        config=True,
        help="""Days to keep ended sessions in the store. 0 keeps them forever.
        Default: 365.
        """,
    )

    idle_culler_timeout = BoundedFloat(
        0.0,
        min=0,
        max=365 * 86400,
        config=True,
        help="""Seconds of inactivity after which the hub's idle culler stops this server
        (the `--timeout` of jupyterhub-idle-culler), so the panel can show the cost of
        leaving the server running until then. 0 means unknown: no projection is shown.
        Default: 0, or `ServerApp.shutdown_no_activity_timeout` when that is set.
        """,
    )

    hub_service_name = Unicode(
        "usage",
        config=True,
        help="""Name of the JupyterHub service that keeps every user's sessions
        (`python -m jupyter_usage.hub`, see docs/hub.md). Sessions are posted to it at
        checkpoints and at stop, and kept locally until it accepts them. An empty string
        never posts. Needs `access:services!service=<name>` in the server's token scopes.
        Default: "usage".
        """,
    )

    report_interval = BoundedFloat(
        60.0,
        min=10,
        max=86400,
        config=True,
        help="""Seconds between two reports of the running session to the hub history
        service, so that hub-wide figures and budgets are at most this old (ended
        sessions are reported as soon as they end). Between 10 and 86400. Reports are
        idempotent: a repeated or late one changes nothing. Default: 60.
        """,
    )

    hub_post_interval = BoundedFloat(
        None,
        min=10,
        max=86400,
        allow_none=True,
        config=True,
        help="""Deprecated: the old name of `report_interval`, used in its place when set.
        Default: None.""",
    )

    metrics_per_kernel = Bool(
        False,
        config=True,
        help="""Whether the Prometheus metrics include one series per kernel (CPU, memory and
        GPU memory, labelled with `kernel_id` and `kernel_name`).

        Every kernel ever started adds new series, so a hub-wide Prometheus keeps growing;
        the server-wide figures are enough for most dashboards. Default: False.
        """,
    )

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return os.path.join(jupyter_data_dir(), "jupyter_usage")

    # -- configuration mistakes: the rest of the config stays in force --

    def __init__(self, **kwargs: Any) -> None:
        self._config_errors: list[ConfigError] = []
        super().__init__(**kwargs)

    def update_config(self, config: Config) -> None:
        kept, errors = take_out_refused(config, {"UsageApp": self, "CostModel": CostModel()})
        for error in errors:
            self._report_config_error(error)
        super().update_config(kept)

    def _report_config_error(self, error: ConfigError) -> None:
        if error in self._config_errors:
            return  # jupyter_server applies the same config more than once
        self._config_errors.append(error)
        self.log.error("jupyter_usage: %s", error.message)

    @property
    def config_errors(self) -> list[ConfigError]:
        return list(self._config_errors)

    def _find_ignored_config(self) -> None:
        paths = getattr(self.serverapp, "config_file_paths", None) or []
        for error in ignored_in_confd(list(paths), ["UsageApp", "CostModel"], self.config):
            self._report_config_error(error)

    # -- wiring --

    def initialize_settings(self) -> None:
        self._find_ignored_config()
        self.series = SeriesStore()
        self.sampler = Sampler(
            self._sources(),
            interval_seconds=self.sample_interval,
            idle_after_seconds=self.idle_after_seconds,
            log=self.log,
        )
        self.sampler.add_listener(
            lambda sample: self.series.add(sample.time, series_values(sample))
        )
        self.kernel_history = KernelHistory()
        self.sampler.add_listener(self.kernel_history.on_sample)
        self.server_watch = ServerWatch(
            self._server,
            self.sampler,
            interval_seconds=self.sample_interval,
            idle_culler_timeout_seconds=self.idle_culler_timeout,
            log=self.log,
        )

        self.cost_model = CostModel(parent=self)
        retention = self.retention_days * 86400 if self.retention_days else float("inf")
        self.store = SessionStore(
            os.path.join(self.data_dir, "sessions.sqlite"),
            retention_seconds=retention,
            log=self.log,
        )
        self.recorder = SessionRecorder(
            self.store,
            self.cost_model.effective_rates(),
            started=time.time(),
            user=os.environ.get("JUPYTERHUB_USER"),
            server_name=os.environ.get("JUPYTERHUB_SERVER_NAME"),
            checkpoint_interval_seconds=self.checkpoint_interval,
            log=self.log,
        )
        self.sampler.add_listener(self.recorder.on_sample)
        # After the recorder: the cost so far, including this sample.
        self.sampler.add_listener(
            lambda sample: self.series.add(sample.time, {"cost_total": self.recorder.cost().total})
        )
        self.hub_client = HubClient.from_env(logger=self.log, timeout_seconds=3)
        self._report_seconds = self._report_interval_seconds()
        self.hub_uploader = (
            SessionUploader(
                self.hub_client,
                self.store,
                self.hub_service_name,
                current_every_seconds=self._report_seconds,
            )
            if self.hub_client is not None and self.hub_service_name
            else None
        )
        self.oom = OomWatch()
        self.sampler.add_listener(self.oom.on_sample)
        self.core = UsageCore(
            settings=CoreSettings(
                sample_interval_seconds=self.sample_interval,
                checkpoint_interval_seconds=self.checkpoint_interval,
                idle_after_seconds=self.idle_after_seconds,
                metrics_per_kernel=self.metrics_per_kernel,
                hub_service_name=self.hub_service_name,
                config_errors=tuple(error.to_json() for error in self.config_errors),
            ),
            sampler=self.sampler,
            series=self.series,
            oom=self.oom,
            store=self.store,
            recorder=self.recorder,
            hub_client=self.hub_client,
            hub_uploader=self.hub_uploader,
            culler_timeout_seconds=self.server_watch.culler_timeout_seconds,
            last_activity=self.server_watch.last_activity,
            budgets=self._budget_reader(),
            no_budget_reason=NO_HUB if self.hub_client is None else NO_SERVICE_NAME,
            kernel_history=self.kernel_history,
        )
        self.collector = UsageCollector(self.core)
        self.hub_follower = (
            HubFollower(
                self.hub_client,
                self.hub_uploader,
                store=self.store,
                recorder=self.recorder,
                cost_model=self.cost_model,
                collector=self.collector,
                interval_seconds=self.checkpoint_interval,
                log=self.log,
                service_rates=self._service_rates(),
            )
            if self.hub_client is not None
            else None
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._server.event_logger.register_event_schema(EVENT_SCHEMA)

    def _budget_reader(self) -> BudgetReader | None:
        """The user's budgets from the hub service, asked once per report interval: the
        service's figures are no fresher than the servers' reports."""
        client, name = self.hub_client, self.hub_service_name
        if client is None or not name:
            return None

        def fetch() -> ServiceAnswer | None:
            answer = client.service_budget(name)
            if answer is None:
                return None
            return ServiceAnswer(answer.status, answer.body, answer.error)

        return BudgetReader(
            fetch,
            interval_seconds=self._report_seconds,
            user=client.user,
            no_service_reason=f"the hub has no service named {name!r}",
        )

    def _service_rates(self) -> ServiceRates | None:
        """The hub service's price list, asked until it answers (once per report
        interval): with a service, its rates price the session."""
        client, name = self.hub_client, self.hub_service_name
        if client is None or not name:
            return None
        return ServiceRates(
            lambda: client.service_rates(name, client.user_model().profile),
            retry_seconds=self._report_seconds,
            log=self.log,
        )

    def _sources(self) -> Sources:
        root_dir = getattr(self.serverapp, "root_dir", None) or os.getcwd()
        paths = list(self.disk_paths) or _unique([root_dir, os.path.expanduser("~")])
        return Sources(
            processes=ProcessTree(os.getpid(), memory_metric=self.memory_metric),
            cgroup=CgroupReader.detect(),
            gpu=GpuReader() if self.gpu else None,
            disk=DiskReader(
                paths,
                scan=self.disk_scan,
                reserved={"yes": True, "no": False}.get(self.disk_reserved.lower()),
            ),
            network=NetworkReader(),
            config_cpu_limit_cores=self.cpu_limit_cores or None,
            config_memory_limit_bytes=self.memory_limit_bytes or None,
        )

    def initialize_handlers(self) -> None:
        self.handlers.extend(handlers(self.core, self.collector))

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await asyncio.to_thread(self._open_store)
        await self.server_watch.refresh()
        if self.sources_disk is not None:
            self.sources_disk.start()
        self.sampler.start()
        self.collector.register()
        self._tasks.append(asyncio.create_task(self.server_watch.run()))
        if self.hub_follower is not None:
            self._tasks.append(asyncio.create_task(self.hub_follower.run()))
        self._stop_signals = StopSignals(serverapp._signal_stop)
        self._stop_signals.install()
        self._started = True

    def _report_interval_seconds(self) -> float:
        if self.hub_post_interval is None:
            return float(self.report_interval)
        self.log.warning(
            "jupyter_usage: UsageApp.hub_post_interval is deprecated, "
            "set UsageApp.report_interval instead"
        )
        return float(self.hub_post_interval)

    def _open_store(self) -> None:
        self.store.open()
        recovered = self.recorder.begin()
        for record in recovered:
            self.log.warning(
                "jupyter_usage: the session started at %s was not closed (the server was "
                "killed); it is kept up to its last checkpoint",
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record["started"] or 0)),
            )
        self.store.prune(time.time())

    @property
    def sources_disk(self) -> DiskReader | None:
        return self.sampler.sources.disk

    async def stop_extension(self) -> None:
        """Stop sampling and close the session; bounded well within the second a
        KubeSpawner pod gets between SIGTERM and SIGKILL."""
        if not getattr(self, "_started", False):
            return  # never started (it failed to initialise): nothing to close
        self._stop_signals.uninstall()
        if self._stop_signals.received is not None:
            self.log.info(
                "jupyter_usage: %s received, closing the session", self._stop_signals.received
            )
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.sampler.stop(timeout_seconds=0.3)
        self.collector.unregister()
        try:
            summary = self.recorder.finish("stop")
        except Exception:
            self.log.exception("jupyter_usage: could not close the session")
        else:
            emit_summary(self._server.event_logger, self.recorder, summary, self.log)
            await deliver_last(self.hub_uploader, self.log)
        self.store.close()
        if self.sources_disk is not None:
            self.sources_disk.stop(0.1)
        if self.sampler.sources.gpu is not None:
            self.sampler.sources.gpu.close()

    @property
    def _server(self) -> Any:
        """The ServerApp (always set once the extension is linked)."""
        assert self.serverapp is not None
        return self.serverapp


def _unique(paths: list[str]) -> list[str]:
    seen: list[str] = []
    for path in paths:
        real = os.path.realpath(path)
        if real not in (os.path.realpath(p) for p in seen):
            seen.append(path)
    return seen

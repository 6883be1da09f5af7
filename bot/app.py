"""The composition root: builds every service, adapter, background worker and messenger from
settings, chooses the backends, and owns start-up and shutdown, in one order.

No HTTP and no Bot Framework here: the edge (:mod:`bot.transport`) passes an :class:`Edge` that
makes messengers, then only adapts requests to the built :class:`Services`. Adding a service is
one ``router.add(service.routes())`` line in :func:`build_services`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from bot.actions import ActionRouter
from bot.chat.compose import build_chat_delivery, build_chat_service
from bot.chat.delivery import ChatDelivery
from bot.chat.fanout import SharedFanout
from bot.chat.ports import ChatStore
from bot.chat.service import ChatService
from bot.config import Settings
from bot.conversations import ConversationService
from bot.errors import ConfigError
from bot.graph.clients import MicrosoftApis, build_apis
from bot.mail.ports import Mailer
from bot.mail.service import ContactMailService
from bot.messaging import ChannelMessenger
from bot.notifications.compose import build_delivery_worker, build_rate_limiter, tenant_windows
from bot.notifications.ports import Ledger
from bot.notifications.ratelimit import RateLimiter
from bot.notifications.service import NotificationService
from bot.notifications.worker import DeliveryWorker
from bot.onboarding import OnboardingService
from bot.onboarding.authorization import refused
from bot.provisioning.ports import Exclusive, TeamsProvisioner
from bot.provisioning.service import DEFAULT_WAITING_HINT, ProvisioningService
from bot.readiness.compose import build_readiness_service
from bot.readiness.ports import ReadinessSignals
from bot.readiness.schedule import Scheduler
from bot.readiness.service import ReadinessService
from bot.report.compose import build_report_service
from bot.report.ports import ReportQuery
from bot.report.service import ReportService
from bot.retry import Sleep, stop_task
from bot.storage import Store
from bot.storage.base import POSTGRES_SCHEMES
from bot.tenant import TenantDirectory
from bot.tenant.demo import DemoTenantDirectory, load_demo_tenant

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)

LOCAL_WAITING_HINT = (
    "In the Microsoft 365 Agents Playground, open the Managed response channel of the Defender "
    "Experts team: the Playground adds the bot to the team (or select Mock an Activity > "
    "Install application there). This card updates when the bot is added."
)


class Edge(Protocol):
    """What the composition root needs from the Bot Framework edge: messengers, and a close."""

    def messenger(self, bot_app_id: str) -> ChannelMessenger:
        """Posts that retry within bounds (provisioning's cards and welcome)."""
        ...

    def outbox_messenger(self, bot_app_id: str) -> ChannelMessenger:
        """Exactly one HTTP attempt per call: the notification outbox owns its retries."""
        ...

    async def close(self) -> None:
        """Release the edge's clients (the connector-client cache)."""
        ...


@dataclass
class Storage:
    """The document store and the notification ledger of one backend (they share commits)."""

    store: Store
    ledger: Ledger

    async def open(self) -> None:
        """Connect and bring the schema up to date, where the backend needs it."""
        await self.store.open()

    async def close(self) -> None:
        await self.ledger.close()
        await self.store.close()


def open_storage(
    url: str, *, clock: Callable[[], float] = time.time, owner: str | None = None
) -> Storage:
    """The backend STORAGE_URL names: ``sqlite:///path`` (the default, one instance),
    ``postgresql://…`` (several instances; ``owner`` names this one's leases) or ``memory://``.
    Call :meth:`Storage.open` before use."""
    if url.startswith("sqlite:///"):
        from bot.storage.sqlite import SqliteStore
        from bot.storage.sqlite_ledger import SqliteLedger

        store = SqliteStore(url.removeprefix("sqlite:///"))
        return Storage(store, SqliteLedger(store, clock))
    if url.startswith(POSTGRES_SCHEMES):
        from bot.storage.postgres import PostgresStore
        from bot.storage.postgres_ledger import PostgresLedger

        postgres = PostgresStore(url)
        return Storage(postgres, PostgresLedger(postgres, clock, owner=owner))
    if url == "memory://":
        from bot.storage.memory import MemoryStore
        from bot.storage.memory_ledger import MemoryLedger

        return Storage(MemoryStore(), MemoryLedger(clock))
    raise ConfigError(f"STORAGE_URL names an unsupported store: {url.split(':', 1)[0]}")


def is_shared(store: Store) -> bool:
    """True for a store several instances share (PostgreSQL). A store can only be a
    PostgresStore once its module is loaded, so SQLite never pays for importing psycopg."""
    postgres = sys.modules.get("bot.storage.postgres")
    return postgres is not None and isinstance(store, postgres.PostgresStore)


def build_shared_rate_limiter(settings: Settings, store: Store, *, sleep: Sleep) -> RateLimiter:
    """Teams' limits for everything that posts as the bot; counted across all instances when
    several share the store (PostgreSQL), per process otherwise."""
    if is_shared(store):
        from bot.storage.postgres import PostgresStore
        from bot.storage.postgres_coordination import PostgresRateLimiter

        assert isinstance(store, PostgresStore)
        return PostgresRateLimiter(store, sleep=sleep, tenant_windows=tenant_windows(settings))
    return build_rate_limiter(settings, sleep=sleep)


def shared_claim(store: Store) -> Callable[[str, str], Awaitable[bool]] | None:
    """For a shared store: claims that run scheduled work once per period across instances."""
    if not is_shared(store):
        return None
    from bot.storage.postgres import PostgresStore
    from bot.storage.postgres_coordination import PeriodicRuns

    assert isinstance(store, PostgresStore)
    return PeriodicRuns(store).claim


def shared_exclusive(store: Store) -> Exclusive | None:
    """For a shared store: a PostgreSQL advisory lock per name, held across instances (one
    provisioning saga per tenant at a time); ``None`` keeps the in-process lock."""
    if not is_shared(store):
        return None
    import functools

    from bot.storage.postgres import PostgresStore
    from bot.storage.postgres_coordination import exclusive

    assert isinstance(store, PostgresStore)
    return functools.partial(exclusive, store)


def once_across_instances(
    job: Callable[[], Awaitable[float]], name: str, exclusive: Exclusive | None
) -> Callable[[], Awaitable[float]]:
    """A scheduled job (re-assessment, monthly report) for several instances: it runs in one
    instance at a time, under the job's advisory lock, and each run re-reads from the store what
    is due (the last assessment, the reports already sent), so the instance that comes second
    finds the period's work done and only returns its wait: once per period. Unlike a claim,
    an instance that dies mid-run leaves the period's work to the next one (the lock goes with
    its connection)."""
    if exclusive is None:
        return job

    async def run() -> float:
        async with exclusive(f"scheduled:{name}"):
            return await job()

    return run


def shared_fanout(settings: Settings, store: Store, chat_store: ChatStore) -> SharedFanout | None:
    """For a shared store: chat events and expert presence reach the consoles connected to every
    instance (PostgreSQL ``LISTEN``/``NOTIFY``); ``None`` keeps the in-process fan-out."""
    if not is_shared(store):
        return None
    import uuid

    from bot.storage.postgres import PostgresStore
    from bot.storage.postgres_coordination import PostgresFanOut

    assert isinstance(store, PostgresStore)
    instance = settings.instance_id or uuid.uuid4().hex
    return SharedFanout(chat_store, PostgresFanOut(store), instance=instance)


def open_report_query(store: Store) -> ReportQuery:
    """The report's query port on the store's own database: SQL on SQLite and PostgreSQL; a
    snapshot into SQLite for the in-memory store."""
    from bot.storage.sqlite import SqliteStore
    from bot.storage.sqlite_report import SnapshotReportQuery, SqliteReportQuery

    if isinstance(store, SqliteStore):
        return SqliteReportQuery(store.path)
    if is_shared(store):
        from bot.storage.postgres import PostgresStore
        from bot.storage.postgres_report import PostgresReportQuery

        assert isinstance(store, PostgresStore)
        return PostgresReportQuery(store)
    return SnapshotReportQuery(store)


def open_chat_store(store: Store, clock: Callable[[], float]) -> ChatStore:
    """The chat transcript in the same database as the incidents. A durable store without a chat
    adapter is refused, never paired with one that would lose messages."""
    from bot.storage.memory import MemoryStore
    from bot.storage.sqlite import SqliteStore
    from bot.storage.sqlite_chat import SqliteChatStore, private_chat_store

    if isinstance(store, SqliteStore):
        return SqliteChatStore(store, clock)
    if isinstance(store, MemoryStore):
        return private_chat_store(clock)
    if is_shared(store):
        from bot.storage.postgres import PostgresStore
        from bot.storage.postgres_chat import PostgresChatStore

        assert isinstance(store, PostgresStore)
        return PostgresChatStore(store, clock)
    raise ConfigError(f"chat has no transcript store for a {type(store).__name__}")


def build_directory(settings: Settings, apis: MicrosoftApis | None = None) -> TenantDirectory:
    if settings.tenant_backend == "demo":
        return DemoTenantDirectory.load(settings.demo_tenant_file)
    from bot.graph.directory import GraphTenantDirectory

    return GraphTenantDirectory(
        _require(apis).graph,
        _require(apis).defender,
        tenant_id=settings.graph_tenant_id,
        high_value_group_id=settings.high_value_users_group_id,
    )


def build_provisioner(settings: Settings, apis: MicrosoftApis | None = None) -> TeamsProvisioner:
    if settings.tenant_backend == "demo":
        from bot.provisioning.local import LocalTeamsProvisioner

        return LocalTeamsProvisioner(load_demo_tenant(settings.demo_tenant_file))
    from bot.graph.teams import GraphTeamsProvisioner

    return GraphTeamsProvisioner(
        _require(apis).graph,
        catalog_app_id=settings.teams_app_catalog_id,
        tenant_id=settings.graph_tenant_id,
    )


def build_signals(settings: Settings, apis: MicrosoftApis | None) -> ReadinessSignals:
    """The readiness signals: the demo tenant's, or Microsoft Graph and Defender's."""
    if settings.tenant_backend == "demo" or apis is None:
        from bot.readiness.demo import DemoReadinessSignals

        return DemoReadinessSignals.load()
    from bot.graph.signals import GraphReadinessSignals

    return GraphReadinessSignals(apis.graph, apis.defender)


def build_mailer(settings: Settings, apis: MicrosoftApis | None = None) -> Mailer:
    """Graph sendMail in graph mode; ``.eml`` files under DATA_DIR/mail in demo mode."""
    if settings.tenant_backend == "demo":
        from bot.mail.local import EmlMailer

        return EmlMailer(settings.data_dir / "mail", sender=settings.mail_sender)
    from bot.graph.mail import GraphMailer

    return GraphMailer(_require(apis).graph, settings.mail_sender)


def messenger_app_id(settings: Settings) -> str:
    """botbuilder needs a non-empty bot id for channel posts: in local mode, the demo bot's."""
    if settings.app_id:
        return settings.app_id
    bot = load_demo_tenant(settings.demo_tenant_file).get("bot")
    return str(bot.get("id", "")) if isinstance(bot, dict) else ""


def _require(apis: MicrosoftApis | None) -> MicrosoftApis:
    if apis is None:
        raise ConfigError("TENANT_BACKEND=graph needs the app's HTTP session")
    return apis


def build_router(directory: TenantDirectory, onboarding: OnboardingService) -> ActionRouter:
    """The router with its guard and the guide's routes; the guide also answers what no service
    registered, and renders the refusals of services that render none of their own."""
    router = ActionRouter(
        directory,
        refused=refused,
        unknown_card=onboarding.unrecognized_card,
        unknown_text=onboarding.unrecognized_text,
    )
    router.add(onboarding.routes())
    return router


@dataclass
class Services:
    """Everything the process runs, built by :func:`build_services`. ``start`` and ``close``
    are the only start-up and shutdown: background work starts last and stops first."""

    settings: Settings
    storage: Storage
    directory: TenantDirectory
    conversations: ConversationService
    onboarding: OnboardingService
    notifications: NotificationService
    router: ActionRouter
    contact_mail: ContactMailService
    readiness: ReadinessService
    report: ReportService
    scheduler: Scheduler
    chat: ChatService
    limiter: RateLimiter
    fanout: SharedFanout | None = None
    report_query: ReportQuery | None = None
    provisioning: ProvisioningService | None = None
    delivery: DeliveryWorker | None = None
    chat_delivery: ChatDelivery | None = None
    apis: MicrosoftApis | None = None
    edge: Edge | None = None
    http: aiohttp.ClientSession | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def store(self) -> Store:
        return self.storage.store

    async def start(self) -> None:
        """Redo unapplied settings, start the schedule, resume contact emails and provisioning,
        start delivery."""
        if self.fanout is not None:
            await self.fanout.start()
        await self.onboarding.resume()
        self.scheduler.start()
        await self.contact_mail.start()
        if self.provisioning is not None:
            await self.provisioning.start()
        if self.delivery is not None:
            self._tasks.append(
                asyncio.create_task(self.delivery.run(), name="notification-delivery")
            )
        if self.chat_delivery is not None:
            self._tasks.append(asyncio.create_task(self.chat_delivery.run(), name="chat-delivery"))
        self._tasks.append(asyncio.create_task(self.chat.run_assistant(), name="chat-assistant"))

    async def close(self) -> None:
        """Stop background work, then release the adapters, then the storage. Deliveries in
        flight first get ``SHUTDOWN_GRACE_SECONDS`` to finish (SIGTERM drains)."""
        if self.delivery is not None and any(not t.done() for t in self._tasks):
            await self.delivery.drain(self.settings.shutdown_grace_seconds)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            await stop_task(task)
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await task
                except Exception as error:  # a dead task must not stop the rest of shutdown
                    log.warning("%s ended with %s", task.get_name(), type(error).__name__)
        self._tasks.clear()
        await self.scheduler.close()
        if self.provisioning is not None:
            await self.provisioning.close()
        await self.contact_mail.close()
        if self.fanout is not None:
            await self.fanout.close()
        await self.chat.store.close()
        if self.report_query is not None:
            await self.report_query.close()  # SQLite: its own read-only connection to the file
        if self.edge is not None:
            await self.edge.close()
        if self.apis is not None:
            self.apis.close()
        if self.http is not None:
            await self.http.close()
        await self.storage.close()


async def build_services(
    settings: Settings,
    *,
    storage: Storage | None = None,
    directory: TenantDirectory | None = None,
    edge: Edge | None = None,
    http: aiohttp.ClientSession | None = None,
    provisioner: TeamsProvisioner | None = None,
    mailer: Mailer | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.time,
) -> Services:
    """Wire every service. Tests may pass their own port implementations.

    Without an ``edge`` the bot can't post: Teams provisioning and notification delivery are
    left out. In graph mode the process's HTTP session (for Microsoft Graph) is made here unless
    ``http`` is given, and closed by :meth:`Services.close` either way.
    """
    storage = storage or open_storage(
        settings.resolved_storage_url, clock=clock, owner=settings.instance_id or None
    )
    await storage.open()
    store = storage.store
    apis = None
    if settings.tenant_backend == "graph":
        if http is None:
            from bot.graph.http import create_http_session

            http = create_http_session(settings)
        apis = build_apis(settings, http, sleep=sleep)
    directory = directory or build_directory(settings, apis)
    mailer = mailer or build_mailer(settings, apis)
    conversations = ConversationService(store)
    onboarding = OnboardingService(store, directory)
    contact_mail = ContactMailService(store, mailer, sleep=sleep)
    onboarding.add_listener(contact_mail.on_settings)
    notifications = NotificationService(storage.ledger, directory, onboarding, clock=clock)
    router = build_router(directory, onboarding)
    router.add(notifications.routes())
    limiter = build_shared_rate_limiter(settings, storage.store, sleep=sleep)
    exclusive = shared_exclusive(storage.store)
    chat_store = open_chat_store(storage.store, clock)
    fanout = shared_fanout(settings, storage.store, chat_store)
    chat = build_chat_service(
        settings, store, directory, onboarding, chat_store, fanout=fanout, presence=fanout
    )
    notifications.add_event_listener(chat.on_incident_event)
    provisioning = delivery = chat_delivery = None
    if edge is not None:
        app_id = messenger_app_id(settings)
        provisioning = ProvisioningService(
            store,
            provisioner or build_provisioner(settings, apis),
            edge.messenger(app_id),
            directory,
            poll_seconds=settings.teams_operation_poll_seconds,
            sleep=sleep,
            waiting_hint=LOCAL_WAITING_HINT
            if settings.tenant_backend == "demo"
            else DEFAULT_WAITING_HINT,
            limiter=limiter,
            exclusive=exclusive,
        )
        onboarding.add_listener(provisioning.on_settings)
        router.add(provisioning.routes())
        delivery = build_delivery_worker(
            settings,
            notifications,
            store,
            onboarding,
            edge.outbox_messenger(app_id),
            mailer,
            clock=clock,
            on_channel_failure=provisioning.report_delivery_failure,
            limiter=limiter,
            claim=shared_claim(storage.store),
        )
        chat_delivery = build_chat_delivery(settings, chat, edge.outbox_messenger(app_id), limiter)
    readiness = build_readiness_service(
        settings,
        store,
        directory,
        onboarding,
        storage.ledger,
        build_signals(settings, apis),
        messenger=None if edge is None else edge.messenger(messenger_app_id(settings)),
        conversations=conversations,
        limiter=limiter,
    )
    onboarding.add_listener(readiness.on_settings)
    router.add(readiness.routes())
    router.add(chat.routes())
    report_query = open_report_query(store)
    report = build_report_service(report_query, store, directory.tenant_id, onboarding, mailer)
    router.add(report.routes())
    return Services(
        settings=settings,
        storage=storage,
        directory=directory,
        conversations=conversations,
        onboarding=onboarding,
        notifications=notifications,
        router=router,
        contact_mail=contact_mail,
        readiness=readiness,
        report=report,
        scheduler=Scheduler(
            [
                once_across_instances(readiness.run_due, "readiness", exclusive),
                once_across_instances(report.run_due, "monthly-report", exclusive),
            ],
            sleep=sleep,
        ),
        chat=chat,
        limiter=limiter,
        fanout=fanout,
        report_query=report_query,
        chat_delivery=chat_delivery,
        provisioning=provisioning,
        delivery=delivery,
        apis=apis,
        edge=edge,
        http=http,
    )

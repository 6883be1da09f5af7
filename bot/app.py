"""Composition root: builds the services from settings. No HTTP and no Bot Framework here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.actions import CardActionHandler, TeamInstallationListener
from bot.chat.compose import build_chat_service
from bot.chat.service import ChatService
from bot.config import Settings
from bot.errors import ConfigError
from bot.graph.clients import MicrosoftApis, build_apis
from bot.mail.ports import Mailer
from bot.mail.service import ContactMailService
from bot.messaging import ChannelMessenger
from bot.notifications.compose import build_notification_service, build_rate_limiter
from bot.notifications.ratelimit import TeamsRateLimiter
from bot.notifications.service import NotificationService
from bot.onboarding import Actor, OnboardingService
from bot.provisioning.ports import TeamsProvisioner
from bot.provisioning.service import DEFAULT_WAITING_HINT, ProvisioningService
from bot.readiness.compose import build_readiness_service
from bot.readiness.schedule import Scheduler
from bot.readiness.service import ReadinessService
from bot.report.compose import build_report_service
from bot.report.service import ReportService
from bot.retry import Sleep
from bot.storage import Store, open_store
from bot.tenant import TenantDirectory
from bot.tenant.demo import DemoTenantDirectory, load_demo_tenant
from cards.chat import VERB_PREFIX as CHAT_VERBS
from cards.provisioning import VERB_PREFIX as PROVISIONING_VERBS
from cards.readiness import VERB_PREFIX as READINESS_VERBS
from cards.report import VERB_PREFIX as REPORT_VERBS

if TYPE_CHECKING:
    import aiohttp
    from microsoft_teams.cards.core import AdaptiveCard

LOCAL_WAITING_HINT = (
    "In the Microsoft 365 Agents Playground, open the Managed response channel of the Defender "
    "Experts team: the Playground adds the bot to the team (or select Mock an Activity > "
    "Install application there). This card updates when the bot is added."
)


@dataclass
class Services:
    settings: Settings
    store: Store
    directory: TenantDirectory
    onboarding: OnboardingService
    notifications: NotificationService
    chat: ChatService
    limiter: TeamsRateLimiter
    contact_mail: ContactMailService | None = None
    provisioning: ProvisioningService | None = None
    apis: MicrosoftApis | None = None
    readiness: ReadinessService | None = None
    report: ReportService | None = None
    scheduler: Scheduler | None = None
    card_actions: dict[str, CardActionHandler] = field(default_factory=dict)
    commands: dict[str, Callable[[Actor], Awaitable[AdaptiveCard]]] = field(default_factory=dict)
    team_listeners: list[TeamInstallationListener] = field(default_factory=list)

    async def start(self) -> None:
        """Resume background work (contact emails, provisioning) after a restart."""
        await self.onboarding.resume()
        if self.scheduler is not None:
            self.scheduler.start()
        if self.contact_mail is not None:
            await self.contact_mail.start()
        if self.provisioning is not None:
            await self.provisioning.start()

    async def close(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.close()
        if self.provisioning is not None:
            await self.provisioning.close()
        if self.contact_mail is not None:
            await self.contact_mail.close()
        if self.apis is not None:
            self.apis.close()
        await self.chat.store.close()
        await self.store.close()


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


def build_mailer(settings: Settings, apis: MicrosoftApis | None = None) -> Mailer:
    if settings.tenant_backend == "demo":
        from bot.mail.local import EmlMailer

        return EmlMailer(settings.data_dir / "mail", sender=settings.mail_sender)
    from bot.graph.mail import GraphMailer

    return GraphMailer(_require(apis).graph, settings.mail_sender)


def _require(apis: MicrosoftApis | None) -> MicrosoftApis:
    if apis is None:
        raise ConfigError("TENANT_BACKEND=graph needs the app's HTTP session")
    return apis


async def build_services(
    settings: Settings,
    *,
    store: Store | None = None,
    directory: TenantDirectory | None = None,
    http: aiohttp.ClientSession | None = None,
    messenger: ChannelMessenger | None = None,
    provisioner: TeamsProvisioner | None = None,
    mailer: Mailer | None = None,
    sleep: Sleep = asyncio.sleep,
) -> Services:
    """Wire every service. Tests may pass their own port implementations.

    ``http`` is the process's client session (for Microsoft Graph); without a ``messenger`` the
    bot can't post, and Teams provisioning is left out.
    """
    store = store or open_store(settings.resolved_storage_url)
    await store.open()
    apis = None
    if settings.tenant_backend == "graph" and http is not None:
        apis = build_apis(settings, http, sleep=sleep)
    directory = directory or build_directory(settings, apis)
    onboarding = OnboardingService(store, directory)
    mailer = mailer or build_mailer(settings, apis)
    contact_mail = ContactMailService(store, mailer, sleep=sleep)
    onboarding.add_listener(contact_mail.on_settings)
    provisioning = None
    if messenger is not None:
        provisioning = ProvisioningService(
            store,
            provisioner or build_provisioner(settings, apis),
            messenger,
            directory,
            poll_seconds=settings.teams_operation_poll_seconds,
            sleep=sleep,
            waiting_hint=LOCAL_WAITING_HINT
            if settings.tenant_backend == "demo"
            else DEFAULT_WAITING_HINT,
        )
        onboarding.add_listener(provisioning.on_settings)
    notifications = build_notification_service(store, directory, onboarding)
    chat = build_chat_service(settings, store, directory, onboarding)
    notifications.add_event_listener(chat.on_incident_event)
    readiness = build_readiness_service(
        settings, store, directory, onboarding, notifications.ledger, apis=apis, messenger=messenger
    )
    onboarding.add_listener(readiness.on_settings)
    report = build_report_service(store, directory.tenant_id, onboarding, mailer)
    card_actions: dict[str, CardActionHandler] = {
        READINESS_VERBS: readiness.on_card_action,
        REPORT_VERBS: report.on_card_action,
        CHAT_VERBS: chat.on_card_action,
    }
    if provisioning is not None:
        card_actions[PROVISIONING_VERBS] = provisioning.on_card_action
    return Services(
        settings=settings,
        store=store,
        directory=directory,
        onboarding=onboarding,
        notifications=notifications,
        chat=chat,
        limiter=build_rate_limiter(settings, sleep=sleep),
        contact_mail=contact_mail,
        provisioning=provisioning,
        apis=apis,
        readiness=readiness,
        report=report,
        scheduler=Scheduler([readiness.run_due, report.run_due], sleep=sleep),
        card_actions=card_actions,
        commands={
            "status": readiness.status_command,
            "readiness": readiness.status_command,
            "report": report.command,
            **chat.commands(),
        },
        team_listeners=[provisioning.on_team_installation] if provisioning is not None else [],
    )

"""What the JSON API answers (the OpenAPI schema is made from these), and the conversions
from the services' messages. Enums travel as lower-case names: "image", "queued", "pro"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from mediabot.billing.v1 import billing_pb2 as bpb
from mediabot.jobs.v1 import jobs_pb2 as jpb
from pydantic import BaseModel, Field

from common.texts import failure_code

KINDS = {jpb.JOB_KIND_IMAGE: "image", jpb.JOB_KIND_EDIT: "edit", jpb.JOB_KIND_VIDEO: "video"}
KIND_CODES = {name: code for code, name in KINDS.items()}
QUALITIES = {jpb.QUALITY_STANDARD: "standard", jpb.QUALITY_PRO: "pro"}
QUALITY_CODES = {name: code for code, name in QUALITIES.items()}
STATUSES = {
    jpb.JOB_STATUS_QUEUED: "queued",
    jpb.JOB_STATUS_RUNNING: "running",
    jpb.JOB_STATUS_SUCCEEDED: "succeeded",
    jpb.JOB_STATUS_FAILED: "failed",
    jpb.JOB_STATUS_CANCELLED: "cancelled",
}
STATUS_CODES = {name: code for code, name in STATUSES.items()}
TERMINAL = ("succeeded", "failed", "cancelled")
TIERS = {bpb.TIER_FREE: "free", bpb.TIER_PRO: "pro"}
PRODUCT_KINDS = {
    bpb.PRODUCT_KIND_CREDIT_PACK: "pack",
    bpb.PRODUCT_KIND_SUBSCRIPTION_MONTHLY: "monthly",
    bpb.PRODUCT_KIND_SUBSCRIPTION_ANNUAL: "annual",
}


def when(stamp: Timestamp, present: bool = True) -> datetime | None:
    """A protobuf timestamp as an aware datetime; None when unset."""
    if not present or (stamp.seconds == 0 and stamp.nanos == 0):
        return None
    return stamp.ToDatetime(tzinfo=UTC)


def _has(message: Any, field: str) -> bool:
    return bool(message.HasField(field))


# --- people and money ---------------------------------------------------------------


class User(BaseModel):
    """A user as billing knows them."""

    telegram_id: int
    username: str
    language: str
    balance: int = Field(description="spendable credits")
    tier: str = Field(description="free or pro")
    pro_until: datetime | None = Field(description="when the subscription ends")
    subscription_product_id: str
    banned: bool
    referral_code: str
    referral_count: int = Field(description="users who joined through the referral link")
    referrer_id: int
    created_at: datetime | None


def _user_fields(user: bpb.User) -> dict[str, Any]:
    return dict(
        telegram_id=user.telegram_id,
        username=user.username,
        language=user.language,
        balance=user.balance,
        tier=TIERS.get(user.tier, "free"),
        pro_until=when(user.pro_until, _has(user, "pro_until")),
        subscription_product_id=user.subscription_product_id,
        banned=user.banned,
        referral_code=user.referral_code,
        referral_count=user.referral_count,
        referrer_id=user.referrer_id,
        created_at=when(user.created_at, _has(user, "created_at")),
    )


def user_of(user: bpb.User) -> User:
    return User(**_user_fields(user))


class Me(User):
    """The logged-in person: their account, referral link and unfinished jobs."""

    referral_link: str | None = Field(description="t.me link with the referral code")
    is_admin: bool
    active_jobs: list[Job] = Field(description="queued or running jobs among the latest")


def me_of(user: bpb.User, referral_link: str | None, is_admin: bool, active_jobs: list[Job]) -> Me:
    return Me(
        **_user_fields(user),
        referral_link=referral_link,
        is_admin=is_admin,
        active_jobs=active_jobs,
    )


class LedgerEntry(BaseModel):
    """One credit movement."""

    id: int
    amount: int = Field(description="positive adds, negative takes")
    kind: str = Field(description="free, reserve, release, purchase, refund, subscription, …")
    reference: str
    note: str
    balance_after: int
    created_at: datetime | None


def ledger_entry_of(entry: bpb.LedgerEntry) -> LedgerEntry:
    return LedgerEntry(
        id=entry.id,
        amount=entry.amount,
        kind=entry.kind,
        reference=entry.reference,
        note=entry.note,
        balance_after=entry.balance_after,
        created_at=when(entry.created_at, _has(entry, "created_at")),
    )


class LedgerPage(BaseModel):
    entries: list[LedgerEntry]
    next_page_token: str = Field(description="the next page's token; empty on the last page")


class Product(BaseModel):
    """Something to buy with Stars."""

    id: str
    kind: str = Field(description="pack, monthly or annual")
    title: str
    description: str
    price_stars: int
    credits: int
    period_days: int


def product_of(product: bpb.Product) -> Product:
    return Product(
        id=product.id,
        kind=PRODUCT_KINDS.get(product.kind, "pack"),
        title=product.title,
        description=product.description,
        price_stars=product.price_stars,
        credits=product.credits,
        period_days=product.period_days,
    )


class InvoiceLink(BaseModel):
    """An invoice link for Telegram.WebApp.openInvoice."""

    link: str
    product: Product


class Payment(BaseModel):
    charge_id: str
    telegram_id: int
    product_id: str
    amount: int = Field(description="Stars paid")
    credits_granted: int
    refunded: bool
    created_at: datetime | None
    refunded_at: datetime | None
    is_recurring: bool


def payment_of(payment: bpb.Payment) -> Payment:
    return Payment(
        charge_id=payment.telegram_payment_charge_id,
        telegram_id=payment.telegram_id,
        product_id=payment.product_id,
        amount=payment.amount,
        credits_granted=payment.credits_granted,
        refunded=payment.refunded,
        created_at=when(payment.created_at, _has(payment, "created_at")),
        refunded_at=when(payment.refunded_at, _has(payment, "refunded_at")),
        is_recurring=payment.is_recurring,
    )


# --- jobs -------------------------------------------------------------------------------


class Offer(BaseModel):
    """A kind of job at one quality: its price and the options its provider accepts."""

    kind: str
    quality: str
    price: int = Field(description="credits")
    provider: str
    aspect_ratios: list[str] = Field(description="accepted ratios, the default first")
    durations_seconds: list[int] = Field(description="accepted video lengths, the default first")
    input_image: str = Field(description="required, optional or none")


def offer_of(offer: jpb.Offer) -> Offer:
    return Offer(
        kind=KINDS.get(offer.kind, "image"),
        quality=QUALITIES.get(offer.quality, "standard"),
        price=offer.price,
        provider=offer.provider,
        aspect_ratios=list(offer.aspect_ratios),
        durations_seconds=list(offer.durations_seconds),
        input_image=offer.input_image,
    )


class ResultFile(BaseModel):
    mime_type: str
    size_bytes: int
    width: int
    height: int


class Job(BaseModel):
    """A generation job."""

    id: str
    telegram_id: int
    kind: str
    quality: str
    prompt: str
    aspect_ratio: str
    duration_seconds: int
    status: str = Field(description="queued, running, succeeded, failed or cancelled")
    progress: int = Field(description="0 to 100")
    cost: int = Field(description="credits charged (refunded when failed or cancelled)")
    provider: str
    error: str = Field(description="why it failed, in English, when it failed")
    failure: str = Field(
        description="why it failed, as a code to tell people in their language: safety_block, "
        "unworkable_prompt, bad_input, provider_unavailable, provider_refused, provider_gone, "
        "too_many_attempts, expired or internal; empty when it did not fail or the reason "
        "has no code (then `error` says it)"
    )
    results: list[ResultFile]
    has_input: bool
    attempts: int
    retry_of: str
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    version: int


def job_of(job: jpb.Job) -> Job:
    return Job(
        id=job.id,
        telegram_id=job.telegram_id,
        kind=KINDS.get(job.kind, "image"),
        quality=QUALITIES.get(job.quality, "standard"),
        prompt=job.prompt,
        aspect_ratio=job.options.aspect_ratio,
        duration_seconds=job.options.duration_seconds,
        status=STATUSES.get(job.status, "queued"),
        progress=job.progress,
        cost=job.cost,
        provider=job.provider,
        error=job.error,
        failure=failure_code(jpb.JobFailure.Name(job.failure)),
        results=[
            ResultFile(
                mime_type=r.mime_type, size_bytes=r.size_bytes, width=r.width, height=r.height
            )
            for r in job.results
        ],
        has_input=job.has_input,
        attempts=job.attempts,
        retry_of=job.retry_of,
        created_at=when(job.created_at, _has(job, "created_at")),
        started_at=when(job.started_at, _has(job, "started_at")),
        finished_at=when(job.finished_at, _has(job, "finished_at")),
        version=job.version,
    )


class JobPage(BaseModel):
    jobs: list[Job]
    next_page_token: str = Field(description="the next page's token; empty on the last page")


class JobUpdate(BaseModel):
    """One server-sent event of a live job: its state and where it stands."""

    job: Job
    queue_position: int = Field(description="jobs ahead while queued (0 = next)")
    estimated_start_at: datetime | None
    estimated_finish_at: datetime | None


def update_of(update: jpb.WatchJobResponse) -> JobUpdate:
    return JobUpdate(
        job=job_of(update.job),
        queue_position=update.queue_position,
        estimated_start_at=when(update.estimated_start_at, _has(update, "estimated_start_at")),
        estimated_finish_at=when(update.estimated_finish_at, _has(update, "estimated_finish_at")),
    )


class ResultUrl(BaseModel):
    """A presigned, expiring download link of one result file."""

    url: str
    mime_type: str
    size_bytes: int
    width: int
    height: int
    expires_at: datetime | None


class ResultUrls(BaseModel):
    urls: list[ResultUrl]


def result_urls_of(answer: jpb.GetResultUrlsResponse) -> ResultUrls:
    return ResultUrls(
        urls=[
            ResultUrl(
                url=u.url,
                mime_type=u.file.mime_type,
                size_bytes=u.file.size_bytes,
                width=u.file.width,
                height=u.file.height,
                expires_at=when(u.expires_at, _has(u, "expires_at")),
            )
            for u in answer.urls
        ]
    )


class Sent(BaseModel):
    """A result sent to the person's Telegram chat."""

    message_id: int


class Ok(BaseModel):
    ok: bool = True


class Health(BaseModel):
    status: str = Field(description="ok when both services serve and Redis answers")
    billing: str
    jobs: str
    redis: str


Me.model_rebuild()


# --- admin ------------------------------------------------------------------------------


class JobCount(BaseModel):
    kind: str
    status: str
    count: int


class ProviderStats(BaseModel):
    provider: str
    finished: int
    failed: int
    failure_rate: float = Field(description="failed / finished")


class Stats(BaseModel):
    """Totals of people, money and jobs."""

    users_total: int
    users_new_24h: int
    users_banned: int
    paying_users: int
    active_subscriptions: int
    payments_total: int
    stars_revenue: int
    credits_outstanding: int
    credits_held: int
    jobs_by_status: dict[str, int]
    jobs: list[JobCount]
    providers: list[ProviderStats]
    queue_depth: int
    mean_wait_seconds: float
    mean_run_seconds: float


def stats_of(billing: bpb.GetStatsResponse, jobs: jpb.GetJobStatsResponse) -> Stats:
    by_status: dict[str, int] = dict.fromkeys(STATUSES.values(), 0)
    counts = []
    for c in jobs.counts:
        status = STATUSES.get(c.status, "queued")
        by_status[status] += c.count
        counts.append(JobCount(kind=KINDS.get(c.kind, "image"), status=status, count=c.count))
    return Stats(
        users_total=billing.users_total,
        users_new_24h=billing.users_new_24h,
        users_banned=billing.users_banned,
        paying_users=billing.paying_users,
        active_subscriptions=billing.pro_users,
        payments_total=billing.payments_total,
        stars_revenue=billing.stars_revenue,
        credits_outstanding=billing.credits_outstanding,
        credits_held=billing.credits_held,
        jobs_by_status=by_status,
        jobs=counts,
        providers=[
            ProviderStats(
                provider=p.provider,
                finished=p.finished,
                failed=p.failed,
                failure_rate=p.failure_rate,
            )
            for p in jobs.providers
        ],
        queue_depth=jobs.queue_depth,
        mean_wait_seconds=jobs.mean_wait_seconds,
        mean_run_seconds=jobs.mean_run_seconds,
    )


class UserPage(BaseModel):
    users: list[User]
    next_page_token: str


class PaymentPage(BaseModel):
    payments: list[Payment]
    next_page_token: str


class AdminUserView(BaseModel):
    """One user with their latest ledger entries, jobs and payments."""

    user: User
    ledger: LedgerPage
    jobs: JobPage
    payments: PaymentPage


class AuditEntry(BaseModel):
    id: int
    actor: str = Field(description='"system", "service", "telegram" or "admin:<name>"')
    action: str
    telegram_id: int
    details: str = Field(description="a JSON object")
    created_at: datetime | None


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_page_token: str


def audit_page_of(answer: bpb.ListAuditLogResponse) -> AuditPage:
    return AuditPage(
        entries=[
            AuditEntry(
                id=e.id,
                actor=e.actor,
                action=e.action,
                telegram_id=e.telegram_id,
                details=e.details,
                created_at=when(e.created_at, _has(e, "created_at")),
            )
            for e in answer.entries
        ],
        next_page_token=answer.next_page_token,
    )


class Balance(BaseModel):
    balance: int


class Refunded(BaseModel):
    """A payment refunded in billing and its Stars returned by Telegram."""

    payment: Payment
    credits_debited: int

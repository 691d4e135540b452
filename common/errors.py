"""Refusals of the domain: each a named error with a stable reason and the figures
a client needs; its message is for people and logs.

The domain raises these and knows nothing of the transport: the server plumbing
turns each into a gRPC status with a `google.rpc.ErrorInfo` (domain `mediabot`,
the reason, the figures as metadata), and a client turns that back into the same
error (`common.clients.refusal`). Clients branch on the reason (or the class),
never on the message.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

#: ErrorInfo.domain of every refusal mediabot gives.
DOMAIN = "mediabot"


class Reason(StrEnum):
    """Why a call was refused (ErrorInfo.reason); metadata keys in brackets."""

    #: A request field is wrong [field].
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    #: An option the provider does not make for this kind [field, accepted].
    INVALID_OPTION = "INVALID_OPTION"
    #: The input image is too large, too big a side, or not a JPEG/PNG/WebP [max_bytes, max_side].
    INVALID_IMAGE = "INVALID_IMAGE"
    #: The request bytes are not a message of the called method.
    MALFORMED_REQUEST = "MALFORMED_REQUEST"
    #: No such user: they never started the bot [telegram_id].
    USER_NOT_FOUND = "USER_NOT_FOUND"
    #: No such job, or not the caller's [job_id].
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    #: No such hold [reservation_id].
    RESERVATION_NOT_FOUND = "RESERVATION_NOT_FOUND"
    #: No such payment [charge_id].
    PAYMENT_NOT_FOUND = "PAYMENT_NOT_FOUND"
    #: No such product on sale [product_id].
    PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"
    #: The balance does not cover the price [balance, required].
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"
    #: The account is banned: it can neither spend nor buy.
    ACCOUNT_BLOCKED = "ACCOUNT_BLOCKED"
    #: Too many unfinished jobs [unfinished, limit].
    QUEUE_FULL = "QUEUE_FULL"
    #: Too many jobs created this minute [limit_per_minute, retry_after_seconds].
    RATE_LIMITED = "RATE_LIMITED"
    #: The hold was released (refunded) already; it cannot be captured or extended.
    HOLD_RELEASED = "HOLD_RELEASED"
    #: The hold was captured (spent) already; it cannot be released or extended.
    HOLD_CAPTURED = "HOLD_CAPTURED"
    #: The hold found for a retried creation had expired: the job cannot be charged.
    HOLD_EXPIRED = "HOLD_EXPIRED"
    #: An idempotency key was used before for a different request [field].
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    #: The invoice payload is not one this service signed.
    INVOICE_INVALID = "INVOICE_INVALID"
    #: The invoice was issued to another user.
    INVOICE_FOREIGN = "INVOICE_FOREIGN"
    #: Payments are taken in Telegram Stars only [currency].
    WRONG_CURRENCY = "WRONG_CURRENCY"
    #: The amount paid is not the product's price [price, paid].
    WRONG_PRICE = "WRONG_PRICE"
    #: The price changed since the invoice was made: open a new one.
    PRICE_CHANGED = "PRICE_CHANGED"
    #: The product was withdrawn from sale.
    PRODUCT_WITHDRAWN = "PRODUCT_WITHDRAWN"
    #: The charge id belongs to another user's payment.
    CHARGE_FOREIGN = "CHARGE_FOREIGN"
    #: The credits a payment brought are partly spent: no refund [credits, balance].
    REFUND_CREDITS_SPENT = "REFUND_CREDITS_SPENT"
    #: The job is still being created: ask again in a moment.
    JOB_CREATING = "JOB_CREATING"
    #: The job has no results: it has not succeeded [status].
    JOB_NOT_SUCCEEDED = "JOB_NOT_SUCCEEDED"
    #: Only a failed or cancelled job can be retried [status].
    JOB_NOT_RETRYABLE = "JOB_NOT_RETRYABLE"
    #: The call collided with a concurrent one; the same call may succeed now.
    CONFLICT = "CONFLICT"
    #: A service or its database is unreachable; the same call may succeed later.
    UNAVAILABLE = "UNAVAILABLE"
    #: A service refused another service's call (credentials, contract): a bug or
    #: a misconfiguration on our side, not the caller's request.
    UPSTREAM_REFUSED = "UPSTREAM_REFUSED"
    #: Something on our side is wrong; it has been logged.
    INTERNAL = "INTERNAL"
    #: No credential, or a wrong one.
    UNAUTHENTICATED = "UNAUTHENTICATED"
    #: The call needs the admin credential.
    PERMISSION_DENIED = "PERMISSION_DENIED"


class DomainError(RuntimeError):
    """A refusal: `reason` says why, `figures` carry what a client shows with it."""

    #: Why; each named error has its own.
    reason: ClassVar[Reason] = Reason.INTERNAL
    #: Named errors by reason, for clients that read a refusal back.
    by_reason: ClassVar[dict[Reason, type[DomainError]]] = {}

    def __init__(self, message: str, **figures: object) -> None:
        super().__init__(message)
        self.figures: dict[str, str] = {name: str(value) for name, value in figures.items()}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "reason" in vars(cls):  # the named error of its reason (categories set it too)
            DomainError.by_reason[cls.reason] = cls


# --- categories: each becomes one status code at the edge --------------------------


class InvalidArgument(DomainError):
    """The request itself is wrong: fix it and send it again."""

    reason = Reason.INVALID_ARGUMENT


class NotFound(DomainError):
    """The thing named does not exist (or is not the caller's)."""


class FailedPrecondition(DomainError):
    """The request is valid but the state does not allow it now."""


class AlreadyExists(DomainError):
    """An idempotency key was reused for a different request."""


class ResourceExhausted(DomainError):
    """A rate or size limit was hit: wait and try again."""


class Unavailable(DomainError):
    """A dependency is down, or the call lost a race: the same request may succeed later."""

    reason = Reason.UNAVAILABLE


class Internal(DomainError):
    """Something on our side is wrong (a bug or a misconfiguration), not the request."""

    reason = Reason.INTERNAL


class Unauthenticated(DomainError):
    """The call carries no credential, or a wrong one."""

    reason = Reason.UNAUTHENTICATED


class PermissionDenied(DomainError):
    """The credential does not open this call."""

    reason = Reason.PERMISSION_DENIED


# --- named refusals ---------------------------------------------------------------


class InvalidOption(InvalidArgument):
    reason = Reason.INVALID_OPTION


class InvalidImage(InvalidArgument):
    reason = Reason.INVALID_IMAGE


class MalformedRequest(InvalidArgument):
    reason = Reason.MALFORMED_REQUEST


class UserNotFound(NotFound):
    reason = Reason.USER_NOT_FOUND


class JobNotFound(NotFound):
    reason = Reason.JOB_NOT_FOUND


class ReservationNotFound(NotFound):
    reason = Reason.RESERVATION_NOT_FOUND


class PaymentNotFound(NotFound):
    reason = Reason.PAYMENT_NOT_FOUND


class ProductNotFound(NotFound):
    reason = Reason.PRODUCT_NOT_FOUND


class InsufficientCredits(FailedPrecondition):
    reason = Reason.INSUFFICIENT_CREDITS


class AccountBlocked(FailedPrecondition):
    reason = Reason.ACCOUNT_BLOCKED


class QueueFull(FailedPrecondition):
    reason = Reason.QUEUE_FULL


class HoldReleased(FailedPrecondition):
    reason = Reason.HOLD_RELEASED


class HoldCaptured(FailedPrecondition):
    reason = Reason.HOLD_CAPTURED


class HoldExpired(FailedPrecondition):
    reason = Reason.HOLD_EXPIRED


class InvoiceInvalid(FailedPrecondition):
    reason = Reason.INVOICE_INVALID


class InvoiceForeign(FailedPrecondition):
    reason = Reason.INVOICE_FOREIGN


class WrongCurrency(FailedPrecondition):
    reason = Reason.WRONG_CURRENCY


class WrongPrice(FailedPrecondition):
    reason = Reason.WRONG_PRICE


class PriceChanged(FailedPrecondition):
    reason = Reason.PRICE_CHANGED


class ProductWithdrawn(FailedPrecondition):
    reason = Reason.PRODUCT_WITHDRAWN


class ChargeForeign(FailedPrecondition):
    reason = Reason.CHARGE_FOREIGN


class RefundCreditsSpent(FailedPrecondition):
    reason = Reason.REFUND_CREDITS_SPENT


class JobCreating(FailedPrecondition):
    reason = Reason.JOB_CREATING


class JobNotSucceeded(FailedPrecondition):
    reason = Reason.JOB_NOT_SUCCEEDED


class JobNotRetryable(FailedPrecondition):
    reason = Reason.JOB_NOT_RETRYABLE


class IdempotencyKeyReused(AlreadyExists):
    reason = Reason.IDEMPOTENCY_KEY_REUSED


class RateLimited(ResourceExhausted):
    reason = Reason.RATE_LIMITED


class Conflict(Unavailable):
    reason = Reason.CONFLICT


class UpstreamRefused(Internal):
    reason = Reason.UPSTREAM_REFUSED

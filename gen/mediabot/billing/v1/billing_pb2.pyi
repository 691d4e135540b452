import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Tier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIER_UNSPECIFIED: _ClassVar[Tier]
    TIER_FREE: _ClassVar[Tier]
    TIER_PRO: _ClassVar[Tier]

class ReservationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESERVATION_STATUS_UNSPECIFIED: _ClassVar[ReservationStatus]
    RESERVATION_STATUS_HELD: _ClassVar[ReservationStatus]
    RESERVATION_STATUS_CAPTURED: _ClassVar[ReservationStatus]
    RESERVATION_STATUS_RELEASED: _ClassVar[ReservationStatus]

class ProductKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRODUCT_KIND_UNSPECIFIED: _ClassVar[ProductKind]
    PRODUCT_KIND_CREDIT_PACK: _ClassVar[ProductKind]
    PRODUCT_KIND_SUBSCRIPTION_MONTHLY: _ClassVar[ProductKind]
    PRODUCT_KIND_SUBSCRIPTION_ANNUAL: _ClassVar[ProductKind]
TIER_UNSPECIFIED: Tier
TIER_FREE: Tier
TIER_PRO: Tier
RESERVATION_STATUS_UNSPECIFIED: ReservationStatus
RESERVATION_STATUS_HELD: ReservationStatus
RESERVATION_STATUS_CAPTURED: ReservationStatus
RESERVATION_STATUS_RELEASED: ReservationStatus
PRODUCT_KIND_UNSPECIFIED: ProductKind
PRODUCT_KIND_CREDIT_PACK: ProductKind
PRODUCT_KIND_SUBSCRIPTION_MONTHLY: ProductKind
PRODUCT_KIND_SUBSCRIPTION_ANNUAL: ProductKind

class User(_message.Message):
    __slots__ = ("telegram_id", "username", "language", "balance", "tier", "pro_until", "banned", "referral_code", "referrer_id", "created_at", "subscription_product_id", "referral_count", "monthly_charge_id")
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PRO_UNTIL_FIELD_NUMBER: _ClassVar[int]
    BANNED_FIELD_NUMBER: _ClassVar[int]
    REFERRAL_CODE_FIELD_NUMBER: _ClassVar[int]
    REFERRER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    REFERRAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    username: str
    language: str
    balance: int
    tier: Tier
    pro_until: _timestamp_pb2.Timestamp
    banned: bool
    referral_code: str
    referrer_id: int
    created_at: _timestamp_pb2.Timestamp
    subscription_product_id: str
    referral_count: int
    monthly_charge_id: str
    def __init__(self, telegram_id: _Optional[int] = ..., username: _Optional[str] = ..., language: _Optional[str] = ..., balance: _Optional[int] = ..., tier: _Optional[_Union[Tier, str]] = ..., pro_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., banned: _Optional[bool] = ..., referral_code: _Optional[str] = ..., referrer_id: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., subscription_product_id: _Optional[str] = ..., referral_count: _Optional[int] = ..., monthly_charge_id: _Optional[str] = ...) -> None: ...

class EnsureUserRequest(_message.Message):
    __slots__ = ("telegram_id", "username", "language_code", "referral_code")
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    REFERRAL_CODE_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    username: str
    language_code: str
    referral_code: str
    def __init__(self, telegram_id: _Optional[int] = ..., username: _Optional[str] = ..., language_code: _Optional[str] = ..., referral_code: _Optional[str] = ...) -> None: ...

class EnsureUserResponse(_message.Message):
    __slots__ = ("user", "created")
    USER_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    user: User
    created: bool
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("telegram_id",)
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    def __init__(self, telegram_id: _Optional[int] = ...) -> None: ...

class GetUserResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class UpdateUserRequest(_message.Message):
    __slots__ = ("telegram_id", "language")
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    language: str
    def __init__(self, telegram_id: _Optional[int] = ..., language: _Optional[str] = ...) -> None: ...

class UpdateUserResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("telegram_id",)
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    def __init__(self, telegram_id: _Optional[int] = ...) -> None: ...

class GetBalanceResponse(_message.Message):
    __slots__ = ("balance", "tier", "pro_until")
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PRO_UNTIL_FIELD_NUMBER: _ClassVar[int]
    balance: int
    tier: Tier
    pro_until: _timestamp_pb2.Timestamp
    def __init__(self, balance: _Optional[int] = ..., tier: _Optional[_Union[Tier, str]] = ..., pro_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LedgerEntry(_message.Message):
    __slots__ = ("id", "telegram_id", "amount", "kind", "reference", "balance_after", "created_at", "note")
    ID_FIELD_NUMBER: _ClassVar[int]
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    BALANCE_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    id: int
    telegram_id: int
    amount: int
    kind: str
    reference: str
    balance_after: int
    created_at: _timestamp_pb2.Timestamp
    note: str
    def __init__(self, id: _Optional[int] = ..., telegram_id: _Optional[int] = ..., amount: _Optional[int] = ..., kind: _Optional[str] = ..., reference: _Optional[str] = ..., balance_after: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., note: _Optional[str] = ...) -> None: ...

class ListLedgerRequest(_message.Message):
    __slots__ = ("telegram_id", "page_size", "page_token")
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    page_size: int
    page_token: str
    def __init__(self, telegram_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListLedgerResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LedgerEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[LedgerEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Reservation(_message.Message):
    __slots__ = ("id", "telegram_id", "amount", "status", "idempotency_key", "purpose", "expires_at", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    telegram_id: int
    amount: int
    status: ReservationStatus
    idempotency_key: str
    purpose: str
    expires_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., telegram_id: _Optional[int] = ..., amount: _Optional[int] = ..., status: _Optional[_Union[ReservationStatus, str]] = ..., idempotency_key: _Optional[str] = ..., purpose: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReserveCreditsRequest(_message.Message):
    __slots__ = ("telegram_id", "amount", "idempotency_key", "purpose", "ttl_seconds")
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    amount: int
    idempotency_key: str
    purpose: str
    ttl_seconds: int
    def __init__(self, telegram_id: _Optional[int] = ..., amount: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., purpose: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class ReserveCreditsResponse(_message.Message):
    __slots__ = ("reservation", "balance", "tier")
    RESERVATION_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    reservation: Reservation
    balance: int
    tier: Tier
    def __init__(self, reservation: _Optional[_Union[Reservation, _Mapping]] = ..., balance: _Optional[int] = ..., tier: _Optional[_Union[Tier, str]] = ...) -> None: ...

class CaptureReservationRequest(_message.Message):
    __slots__ = ("reservation_id",)
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    def __init__(self, reservation_id: _Optional[str] = ...) -> None: ...

class CaptureReservationResponse(_message.Message):
    __slots__ = ("reservation",)
    RESERVATION_FIELD_NUMBER: _ClassVar[int]
    reservation: Reservation
    def __init__(self, reservation: _Optional[_Union[Reservation, _Mapping]] = ...) -> None: ...

class ReleaseReservationRequest(_message.Message):
    __slots__ = ("reservation_id", "reason")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    reason: str
    def __init__(self, reservation_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReleaseReservationResponse(_message.Message):
    __slots__ = ("reservation", "balance")
    RESERVATION_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    reservation: Reservation
    balance: int
    def __init__(self, reservation: _Optional[_Union[Reservation, _Mapping]] = ..., balance: _Optional[int] = ...) -> None: ...

class ExtendReservationRequest(_message.Message):
    __slots__ = ("reservation_id", "ttl_seconds")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    ttl_seconds: int
    def __init__(self, reservation_id: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class ExtendReservationResponse(_message.Message):
    __slots__ = ("reservation",)
    RESERVATION_FIELD_NUMBER: _ClassVar[int]
    reservation: Reservation
    def __init__(self, reservation: _Optional[_Union[Reservation, _Mapping]] = ...) -> None: ...

class Product(_message.Message):
    __slots__ = ("id", "kind", "title", "description", "price_stars", "credits", "period_days")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PRICE_STARS_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_DAYS_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: ProductKind
    title: str
    description: str
    price_stars: int
    credits: int
    period_days: int
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[ProductKind, str]] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., price_stars: _Optional[int] = ..., credits: _Optional[int] = ..., period_days: _Optional[int] = ...) -> None: ...

class ListProductsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListProductsResponse(_message.Message):
    __slots__ = ("products",)
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    products: _containers.RepeatedCompositeFieldContainer[Product]
    def __init__(self, products: _Optional[_Iterable[_Union[Product, _Mapping]]] = ...) -> None: ...

class CreateInvoiceRequest(_message.Message):
    __slots__ = ("telegram_id", "product_id")
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    product_id: str
    def __init__(self, telegram_id: _Optional[int] = ..., product_id: _Optional[str] = ...) -> None: ...

class CreateInvoiceResponse(_message.Message):
    __slots__ = ("title", "description", "payload", "currency", "amount", "subscription_period", "product")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_PERIOD_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    title: str
    description: str
    payload: str
    currency: str
    amount: int
    subscription_period: int
    product: Product
    def __init__(self, title: _Optional[str] = ..., description: _Optional[str] = ..., payload: _Optional[str] = ..., currency: _Optional[str] = ..., amount: _Optional[int] = ..., subscription_period: _Optional[int] = ..., product: _Optional[_Union[Product, _Mapping]] = ...) -> None: ...

class PreCheckoutRequest(_message.Message):
    __slots__ = ("telegram_id", "invoice_payload", "currency", "total_amount")
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    invoice_payload: str
    currency: str
    total_amount: int
    def __init__(self, telegram_id: _Optional[int] = ..., invoice_payload: _Optional[str] = ..., currency: _Optional[str] = ..., total_amount: _Optional[int] = ...) -> None: ...

class PreCheckoutResponse(_message.Message):
    __slots__ = ("product",)
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    product: Product
    def __init__(self, product: _Optional[_Union[Product, _Mapping]] = ...) -> None: ...

class Payment(_message.Message):
    __slots__ = ("telegram_payment_charge_id", "telegram_id", "product_id", "amount", "credits_granted", "refunded", "created_at", "refunded_at", "is_recurring")
    TELEGRAM_PAYMENT_CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CREDITS_GRANTED_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_AT_FIELD_NUMBER: _ClassVar[int]
    IS_RECURRING_FIELD_NUMBER: _ClassVar[int]
    telegram_payment_charge_id: str
    telegram_id: int
    product_id: str
    amount: int
    credits_granted: int
    refunded: bool
    created_at: _timestamp_pb2.Timestamp
    refunded_at: _timestamp_pb2.Timestamp
    is_recurring: bool
    def __init__(self, telegram_payment_charge_id: _Optional[str] = ..., telegram_id: _Optional[int] = ..., product_id: _Optional[str] = ..., amount: _Optional[int] = ..., credits_granted: _Optional[int] = ..., refunded: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., refunded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., is_recurring: _Optional[bool] = ...) -> None: ...

class CompletePaymentRequest(_message.Message):
    __slots__ = ("telegram_id", "invoice_payload", "currency", "total_amount", "telegram_payment_charge_id", "provider_payment_charge_id", "subscription_expiration_date", "is_recurring", "is_first_recurring")
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TELEGRAM_PAYMENT_CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_PAYMENT_CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_EXPIRATION_DATE_FIELD_NUMBER: _ClassVar[int]
    IS_RECURRING_FIELD_NUMBER: _ClassVar[int]
    IS_FIRST_RECURRING_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    invoice_payload: str
    currency: str
    total_amount: int
    telegram_payment_charge_id: str
    provider_payment_charge_id: str
    subscription_expiration_date: int
    is_recurring: bool
    is_first_recurring: bool
    def __init__(self, telegram_id: _Optional[int] = ..., invoice_payload: _Optional[str] = ..., currency: _Optional[str] = ..., total_amount: _Optional[int] = ..., telegram_payment_charge_id: _Optional[str] = ..., provider_payment_charge_id: _Optional[str] = ..., subscription_expiration_date: _Optional[int] = ..., is_recurring: _Optional[bool] = ..., is_first_recurring: _Optional[bool] = ...) -> None: ...

class CompletePaymentResponse(_message.Message):
    __slots__ = ("payment", "balance", "already_completed")
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    ALREADY_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    payment: Payment
    balance: int
    already_completed: bool
    def __init__(self, payment: _Optional[_Union[Payment, _Mapping]] = ..., balance: _Optional[int] = ..., already_completed: _Optional[bool] = ...) -> None: ...

class RefundPaymentRequest(_message.Message):
    __slots__ = ("telegram_payment_charge_id", "reason")
    TELEGRAM_PAYMENT_CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    telegram_payment_charge_id: str
    reason: str
    def __init__(self, telegram_payment_charge_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RefundPaymentResponse(_message.Message):
    __slots__ = ("payment", "credits_debited")
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    CREDITS_DEBITED_FIELD_NUMBER: _ClassVar[int]
    payment: Payment
    credits_debited: int
    def __init__(self, payment: _Optional[_Union[Payment, _Mapping]] = ..., credits_debited: _Optional[int] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("users_total", "users_new_24h", "users_banned", "pro_users", "payments_total", "stars_revenue", "credits_outstanding", "credits_held", "paying_users")
    USERS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    USERS_NEW_24H_FIELD_NUMBER: _ClassVar[int]
    USERS_BANNED_FIELD_NUMBER: _ClassVar[int]
    PRO_USERS_FIELD_NUMBER: _ClassVar[int]
    PAYMENTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    STARS_REVENUE_FIELD_NUMBER: _ClassVar[int]
    CREDITS_OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    CREDITS_HELD_FIELD_NUMBER: _ClassVar[int]
    PAYING_USERS_FIELD_NUMBER: _ClassVar[int]
    users_total: int
    users_new_24h: int
    users_banned: int
    pro_users: int
    payments_total: int
    stars_revenue: int
    credits_outstanding: int
    credits_held: int
    paying_users: int
    def __init__(self, users_total: _Optional[int] = ..., users_new_24h: _Optional[int] = ..., users_banned: _Optional[int] = ..., pro_users: _Optional[int] = ..., payments_total: _Optional[int] = ..., stars_revenue: _Optional[int] = ..., credits_outstanding: _Optional[int] = ..., credits_held: _Optional[int] = ..., paying_users: _Optional[int] = ...) -> None: ...

class FindUsersRequest(_message.Message):
    __slots__ = ("query", "page_size", "page_token")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    query: str
    page_size: int
    page_token: str
    def __init__(self, query: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class FindUsersResponse(_message.Message):
    __slots__ = ("users", "next_page_token")
    USERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[User]
    next_page_token: str
    def __init__(self, users: _Optional[_Iterable[_Union[User, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GrantCreditsRequest(_message.Message):
    __slots__ = ("telegram_id", "amount", "reason", "idempotency_key")
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    amount: int
    reason: str
    idempotency_key: str
    def __init__(self, telegram_id: _Optional[int] = ..., amount: _Optional[int] = ..., reason: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class GrantCreditsResponse(_message.Message):
    __slots__ = ("balance",)
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    balance: int
    def __init__(self, balance: _Optional[int] = ...) -> None: ...

class SetBannedRequest(_message.Message):
    __slots__ = ("telegram_id", "banned", "reason")
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    BANNED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    banned: bool
    reason: str
    def __init__(self, telegram_id: _Optional[int] = ..., banned: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class SetBannedResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("id", "actor", "action", "telegram_id", "details", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    actor: str
    action: str
    telegram_id: int
    details: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., telegram_id: _Optional[int] = ..., details: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAuditLogRequest(_message.Message):
    __slots__ = ("telegram_id", "page_size", "page_token")
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    page_size: int
    page_token: str
    def __init__(self, telegram_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAuditLogResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListPaymentsRequest(_message.Message):
    __slots__ = ("telegram_id", "page_size", "page_token")
    TELEGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    telegram_id: int
    page_size: int
    page_token: str
    def __init__(self, telegram_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPaymentsResponse(_message.Message):
    __slots__ = ("payments", "next_page_token")
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    payments: _containers.RepeatedCompositeFieldContainer[Payment]
    next_page_token: str
    def __init__(self, payments: _Optional[_Iterable[_Union[Payment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

"""English texts."""

TEXTS: dict[str, str] = {
    "refusal.invalid_argument": "That did not work: please check what you entered.",
    "refusal.invalid_option": "This option is not available here. Please choose another one.",
    "refusal.invalid_image": "Please send a JPEG, PNG or WebP image of at most 10 MB.",
    "refusal.malformed_request": "That request could not be read. Please try again.",
    "refusal.user_not_found": "We don't know you yet: send /start first.",
    "refusal.job_not_found": "This job is gone (or was never yours).",
    "refusal.reservation_not_found": "That charge is unknown.",
    "refusal.payment_not_found": "That payment is unknown.",
    "refusal.product_not_found": "This product is not on sale.",
    "refusal.insufficient_credits": (
        "Not enough credits: you have {balance}, this costs {required}. Top up with /buy."
    ),
    "refusal.account_blocked": (
        "Your account is blocked. Contact support if you think this is a mistake."
    ),
    "refusal.queue_full": (
        "You already have {unfinished} jobs in progress (at most {limit}). Wait for one to finish."
    ),
    "refusal.rate_limited": "Too many requests. Try again in {retry_after_seconds} s.",
    "refusal.hold_released": "These credits were already returned.",
    "refusal.hold_captured": "These credits were already spent.",
    "refusal.hold_expired": "The job could not be charged in time. Please try again.",
    "refusal.idempotency_key_reused": "This request was already made with other details.",
    "refusal.invoice_invalid": "This invoice is not valid. Please open a new one.",
    "refusal.invoice_foreign": "This invoice was made for someone else.",
    "refusal.wrong_currency": "Payments are accepted in Telegram Stars only.",
    "refusal.wrong_price": "The price is {price} Stars, not {paid}. Please open a new invoice.",
    "refusal.price_changed": "The price has changed. Please open a new invoice.",
    "refusal.product_withdrawn": "This product is no longer on sale.",
    "refusal.charge_foreign": "This payment belongs to another user.",
    "refusal.refund_credits_spent": (
        "The {credits} credits of this payment are partly spent, so it cannot be refunded."
    ),
    "refusal.job_creating": "The job is still being created. Try again in a moment.",
    "refusal.job_not_succeeded": "This job has no result.",
    "refusal.job_not_retryable": "Only a failed or cancelled job can be retried.",
    "refusal.conflict": "Something else happened at the same moment. Please try again.",
    "refusal.unavailable": "The service is temporarily unavailable. Try again in a minute.",
    "refusal.upstream_refused": "Something is wrong on our side. We are on it; try again later.",
    "refusal.internal": "Something went wrong on our side. Please try again later.",
    "refusal.unauthenticated": "Please sign in again.",
    "refusal.permission_denied": "This is for admins only.",
}

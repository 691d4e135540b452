"""Русские тексты."""

TEXTS: dict[str, str] = {
    "refusal.invalid_argument": "Не получилось: проверьте, что вы ввели.",
    "refusal.invalid_option": "Этот вариант здесь недоступен. Выберите другой.",
    "refusal.invalid_image": "Пришлите изображение JPEG, PNG или WebP размером до 10 МБ.",
    "refusal.malformed_request": "Не удалось прочитать запрос. Попробуйте ещё раз.",
    "refusal.user_not_found": "Мы ещё не знакомы: сначала отправьте /start.",
    "refusal.job_not_found": "Этой задачи больше нет (или она не ваша).",
    "refusal.reservation_not_found": "Такое списание неизвестно.",
    "refusal.payment_not_found": "Такой платёж неизвестен.",
    "refusal.product_not_found": "Этот товар не продаётся.",
    "refusal.insufficient_credits": (
        "Не хватает кредитов: у вас {balance}, нужно {required}. Пополните баланс: /buy."
    ),
    "refusal.account_blocked": "Ваш аккаунт заблокирован. Если это ошибка, напишите в поддержку.",
    "refusal.queue_full": (
        "У вас уже {unfinished} задач в работе (не больше {limit}). "
        "Дождитесь, пока одна завершится."
    ),
    "refusal.rate_limited": "Слишком много запросов. Попробуйте через {retry_after_seconds} с.",
    "refusal.hold_released": "Эти кредиты уже возвращены.",
    "refusal.hold_captured": "Эти кредиты уже списаны.",
    "refusal.hold_expired": "Не удалось вовремя списать кредиты. Попробуйте ещё раз.",
    "refusal.idempotency_key_reused": "Такой запрос уже был сделан с другими данными.",
    "refusal.invoice_invalid": "Этот счёт недействителен. Откройте новый.",
    "refusal.invoice_foreign": "Этот счёт выставлен другому пользователю.",
    "refusal.wrong_currency": "Оплата принимается только в Telegram Stars.",
    "refusal.wrong_price": "Цена — {price} Stars, а не {paid}. Откройте новый счёт.",
    "refusal.price_changed": "Цена изменилась. Откройте новый счёт.",
    "refusal.product_withdrawn": "Этот товар больше не продаётся.",
    "refusal.charge_foreign": "Этот платёж принадлежит другому пользователю.",
    "refusal.refund_credits_spent": (
        "{credits} кредитов этого платежа частично потрачены, поэтому вернуть его нельзя."
    ),
    "refusal.job_creating": "Задача ещё создаётся. Попробуйте через мгновение.",
    "refusal.job_not_succeeded": "У этой задачи нет результата.",
    "refusal.job_not_retryable": "Повторить можно только неудавшуюся или отменённую задачу.",
    "refusal.conflict": "В этот же момент произошло что-то ещё. Попробуйте ещё раз.",
    "refusal.unavailable": "Сервис временно недоступен. Попробуйте через минуту.",
    "refusal.upstream_refused": "У нас что-то сломалось. Мы уже чиним; попробуйте позже.",
    "refusal.internal": "У нас что-то пошло не так. Попробуйте позже.",
    "refusal.unauthenticated": "Пожалуйста, войдите снова.",
    "refusal.permission_denied": "Это только для администраторов.",
}

"""The gateway imports aiogram with its Bot API models deferred (bot_gateway.lazy_models):
every model still builds, and reads updates exactly as aiogram imported as usual does."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.settings import ROOT

#: Updates with the nested parts the bot reads: commands, photos, documents, inline
#: keyboards, a pressed button on an earlier message, a payment and a pre-checkout query.
UPDATES = [
    {"update_id": 1, "message": {
        "message_id": 5, "date": 1700000000, "chat": {"id": 7, "type": "private"},
        "from": {"id": 7, "is_bot": False, "first_name": "A", "language_code": "ru"},
        "text": "/start ref_42", "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }},
    {"update_id": 2, "message": {
        "message_id": 6, "date": 1700000001, "chat": {"id": 7, "type": "private"},
        "from": {"id": 7, "is_bot": False, "first_name": "A"}, "caption": "make it blue",
        "photo": [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90,
                   "file_size": 1200}],
        "document": {"file_id": "d1", "file_unique_id": "u2", "mime_type": "image/png"},
    }},
    {"update_id": 3, "callback_query": {
        "id": "cb1", "chat_instance": "-1", "data": "g:ok",
        "from": {"id": 7, "is_bot": False, "first_name": "A"},
        "message": {"message_id": 8, "date": 1700000002, "chat": {"id": 7, "type": "private"},
                    "from": {"id": 99, "is_bot": True, "first_name": "bot"}, "text": "Sure?",
                    "reply_markup": {"inline_keyboard": [[{"text": "✅", "callback_data": "g:ok"},
                                                          {"text": "Open", "url": "https://t.me/x"}]]}},
    }},
    {"update_id": 4, "message": {
        "message_id": 9, "date": 1700000003, "chat": {"id": 7, "type": "private"},
        "from": {"id": 7, "is_bot": False, "first_name": "A"},
        "successful_payment": {"currency": "XTR", "total_amount": 50, "invoice_payload": "p",
                               "telegram_payment_charge_id": "c1",
                               "provider_payment_charge_id": "", "is_recurring": True,
                               "subscription_expiration_date": 1702592003},
    }},
    {"update_id": 5, "pre_checkout_query": {
        "id": "q1", "from": {"id": 7, "is_bot": False, "first_name": "A"}, "currency": "XTR",
        "total_amount": 50, "invoice_payload": "p",
    }},
]  # fmt: skip

READ = """
import json, sys
import pydantic
{importing}
from aiogram import methods, types
from aiogram.methods.base import Response
report = {{"deferred": not types.Message.__pydantic_complete__
                       and not methods.SendMessage.__pydantic_complete__,
          "pydantic_restored": dict(vars(pydantic.BaseModel)["model_config"]) == {{}}}}
report["updates"] = [types.Update.model_validate(u).model_dump(mode="json", exclude_none=True)
                     for u in json.loads(sys.argv[1])]
sent = Response[types.Message].model_validate({{"ok": True, "result": json.loads(sys.argv[1])[2]
                                                ["callback_query"]["message"]}})
report["response"] = sent.model_dump(mode="json", exclude_none=True)
report["call"] = repr(methods.SendMessage(chat_id=7, text="hi", parse_mode="HTML").model_dump())
built = 0
for module in (types, methods):
    for name in module.__all__:
        model = getattr(module, name)
        if (isinstance(model, type) and issubclass(model, pydantic.BaseModel)
                and model is not methods.TelegramMethod):
            model.model_rebuild(force=True)
            built += 1
report["built"] = built
print(json.dumps(report))
"""


def read_in_a_fresh_process(importing: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", READ.format(importing=importing), json.dumps(UPDATES)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_deferred_models_build_and_read_updates_as_aiogram_does():
    lazy = read_in_a_fresh_process("import bot_gateway.app")
    usual = read_in_a_fresh_process("import aiogram")
    assert lazy["deferred"] and not usual["deferred"]
    assert lazy["pydantic_restored"], "pydantic's defaults are back once aiogram is imported"
    assert lazy["built"] == usual["built"] > 500, "every type and method builds"
    assert lazy["updates"] == usual["updates"]
    assert lazy["updates"][3]["message"]["successful_payment"]["total_amount"] == 50
    assert lazy["response"] == usual["response"] and lazy["call"] == usual["call"]

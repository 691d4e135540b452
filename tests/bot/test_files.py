"""Files: multipart and attach:// uploads, photo sizes, re-sending by file_id, getFile and
downloads, albums, and Telegram's size limits."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramEntityTooLarge
from aiogram.types import (
    BufferedInputFile,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
)
from PIL import Image

from devstack.telegram import Limits, LocalTelegram, Options
from devstack.telegram.client import UserSide
from job_svc.providers.local import make_image, make_video
from tests.bot.conftest import ANN, TOKEN, make_bot

MB = 1024 * 1024


def png(width: int, height: int, prompt: str = "a lighthouse") -> bytes:
    image = Image.new("RGB", (width, height))
    source = Image.open(io.BytesIO(make_image(prompt, "1:1", 64, False)[0]))
    image.paste(source.resize((width, height)))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def test_a_photo_upload_becomes_telegrams_sizes_and_downloads_by_file_path(
    bot: Bot, ann_chat: int
) -> None:
    sent = await bot.send_photo(
        ANN,
        BufferedInputFile(png(1600, 900), "result.png"),
        caption="<b>Done</b>",
        parse_mode="HTML",
    )
    assert (
        sent.caption == "Done" and sent.caption_entities and sent.caption_entities[0].type == "bold"
    )
    sizes = [(p.width, p.height) for p in sent.photo or []]
    assert sizes == [(90, 51), (320, 180), (800, 450), (1280, 720), (1600, 900)]
    largest = (sent.photo or [])[-1]
    info = await bot.get_file(largest.file_id)
    assert (
        info.file_path
        and info.file_path.startswith("photos/")
        and info.file_size == largest.file_size
    )
    downloaded = await bot.download_file(info.file_path)
    assert downloaded is not None
    with Image.open(downloaded) as image:
        assert (image.format, image.size) == ("JPEG", (1600, 900))
    again = await bot.send_photo(ANN, largest.file_id)  # re-sent by file_id: the same photo
    assert [p.file_unique_id for p in again.photo or []] == [
        p.file_unique_id for p in sent.photo or []
    ]


async def test_uploads_by_attach_and_refusals_of_bad_photos_urls_and_ids(
    telegram: LocalTelegram, bot: Bot, ann_chat: int
) -> None:
    form = aiohttp.FormData()
    form.add_field("chat_id", str(ANN))
    form.add_field("photo", "attach://picture")
    form.add_field("picture", png(200, 100), filename="p.png", content_type="image/png")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{telegram.url}/bot{TOKEN}/sendPhoto", data=form) as response:
            body = await response.json()
    assert body["ok"] and body["result"]["photo"][-1]["width"] == 200
    with pytest.raises(TelegramBadRequest, match="Bad Request: IMAGE_PROCESS_FAILED"):
        await bot.send_photo(ANN, BufferedInputFile(b"not an image at all", "x.jpg"))
    with pytest.raises(TelegramBadRequest, match="PHOTO_INVALID_DIMENSIONS"):
        await bot.send_photo(ANN, BufferedInputFile(png(2100, 100), "strip.png"))
    with pytest.raises(TelegramBadRequest, match="failed to get HTTP URL content"):
        await bot.send_photo(ANN, "https://example.com/cat.jpg")
    with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL specified"):
        await bot.send_photo(ANN, "AgACAgIAAxkBAAInvented")
    with pytest.raises(TelegramBadRequest, match="there is no photo in the request"):
        await bot.send_photo(ANN, "attach://missing")
    photo_id = body["result"]["photo"][-1]["file_id"]
    with pytest.raises(TelegramBadRequest, match="can't use file of type Photo as Document"):
        await bot.send_document(ANN, photo_id)


async def test_videos_animations_and_documents_carry_what_telegram_reports(
    bot: Bot, ann_chat: int
) -> None:
    mp4, width, height, _ = make_video("a wave", "16:9", 2, 160, 8, None)
    video = (await bot.send_video(ANN, BufferedInputFile(mp4, "clip.mp4"), caption="clip")).video
    assert video is not None
    assert (video.width, video.height, video.duration, video.mime_type) == (
        width,
        height,
        2,
        "video/mp4",
    )
    assert video.thumbnail is not None and video.thumbnail.width == 160
    thumbnail = await bot.download(video.thumbnail.file_id)
    assert thumbnail is not None and thumbnail.getvalue()[:2] == b"\xff\xd8"
    as_document = await bot.send_document(ANN, video.file_id)  # a video may go as a document
    assert as_document.document and as_document.document.file_id == video.file_id
    animation = await bot.send_animation(ANN, BufferedInputFile(mp4, "loop.mp4"))
    assert animation.animation and animation.document  # both, as Telegram sends animations
    report = await bot.send_document(ANN, BufferedInputFile(b"%PDF-1.4 ...", "report.pdf"))
    assert report.document and (report.document.file_name, report.document.mime_type) == (
        "report.pdf",
        "application/pdf",
    )
    downloaded = await bot.download(report.document.file_id)
    assert downloaded is not None and downloaded.getvalue() == b"%PDF-1.4 ..."


async def test_an_album_uploads_its_files_through_attach(bot: Bot, ann_chat: int) -> None:
    mp4, *_ = make_video("album", "1:1", 1, 64, 4, None)
    album = await bot.send_media_group(
        ANN,
        [
            InputMediaPhoto(
                media=BufferedInputFile(png(300, 300, "one"), "1.png"), caption="first"
            ),
            InputMediaPhoto(media=BufferedInputFile(png(300, 200, "two"), "2.png")),
            InputMediaVideo(media=BufferedInputFile(mp4, "3.mp4")),
        ],
    )
    assert [m.message_id for m in album] == [2, 3, 4]
    assert len({m.media_group_id for m in album}) == 1 and album[0].media_group_id
    assert album[0].caption == "first" and album[2].video is not None
    with pytest.raises(TelegramBadRequest, match="can't use the media of the specified type"):
        await bot.send_media_group(
            ANN,
            [
                InputMediaPhoto(media=BufferedInputFile(png(50, 50), "a.png")),
                InputMediaDocument(media=BufferedInputFile(b"doc", "b.txt")),
            ],
        )


async def test_a_user_photo_arrives_with_sizes_the_bot_can_download(
    bot: Bot, users: UserSide, ann_chat: int
) -> None:
    await users.send_file(bot.id, ANN, png(1000, 1000), filename="me.png", caption="edit this")
    update = (await bot.get_updates())[-1]
    assert update.message and update.message.caption == "edit this"
    photo = update.message.photo or []
    assert [p.width for p in photo] == [90, 320, 800, 1000]
    downloaded = await bot.download(photo[-1].file_id)
    assert downloaded is not None
    with Image.open(downloaded) as image:
        assert image.size == (1000, 1000)
    await users.send_file(
        bot.id, ANN, b"just text", kind="document", filename="notes.txt", content_type="text/plain"
    )
    document = (await bot.get_updates(offset=update.update_id + 1))[-1].message
    assert document and document.document and document.document.file_name == "notes.txt"


async def test_uploads_over_50_mb_and_downloads_over_20_mb_are_refused_off_local_mode(
    start_telegram: Callable[..., Awaitable[LocalTelegram]], users: UserSide
) -> None:
    cloud = await start_telegram(Options(limits=Limits(enabled=False)))
    local = await start_telegram(Options(local_mode=True, limits=Limits(enabled=False)))
    big = b"\0" * (21 * MB)
    for server in (cloud, local):
        bot = make_bot(server.url)
        try:
            async with UserSide(server.url) as side:
                await bot.get_me()
                await side.user(ANN, "Ann")
                await side.send_text(bot.id, ANN, "/start")
            sent = await bot.send_document(ANN, BufferedInputFile(big, "big.bin"))
            assert sent.document is not None
            if server is cloud:
                with pytest.raises(TelegramBadRequest, match="Bad Request: file is too big"):
                    await bot.get_file(sent.document.file_id)
                with pytest.raises(TelegramEntityTooLarge, match="Request Entity Too Large"):
                    await bot.send_document(ANN, BufferedInputFile(b"\0" * (51 * MB), "huge.bin"))
            else:
                assert (await bot.get_file(sent.document.file_id)).file_size == len(big)
        finally:
            await bot.session.close()

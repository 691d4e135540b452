"""The object store (any S3-compatible server) through the `minio` client."""

from __future__ import annotations

import asyncio
import functools
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

import urllib3
from minio import Minio
from minio.error import S3Error

from job_svc.settings import JobSettings

T = TypeVar("T")
#: Threads for the blocking S3 client, shared by a process's concurrent calls.
THREADS = 32


class ObjectStore:
    """Puts, gets and presigns objects in one bucket.

    The minio client blocks, so every call runs in a thread. The region is fixed
    so that presigning never needs a round trip to the server.
    """

    def __init__(self, settings: JobSettings) -> None:
        self.bucket = settings.MINIO_BUCKET
        # The default executor has cores + 4 threads: far too few for a worker
        # that stores dozens of results at once.
        self._threads = ThreadPoolExecutor(THREADS, thread_name_prefix="s3")
        self._client = Minio(
            settings.MINIO_ENDPOINT,
            access_key=settings.MINIO_ACCESS_KEY.get_secret_value(),
            secret_key=settings.MINIO_SECRET_KEY.get_secret_value(),
            secure=settings.MINIO_SECURE,
            region="us-east-1",
            http_client=urllib3.PoolManager(
                maxsize=64,
                retries=urllib3.Retry(
                    total=3, backoff_factor=0.2, status_forcelist=(502, 503, 504)
                ),
                timeout=urllib3.Timeout(connect=5, read=60),
            ),
        )

    async def ensure_bucket(self) -> None:
        """Create the bucket when it is missing (several replicas may race: fine)."""

        def create() -> None:
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

        await self._run(create)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._run(
            self._client.put_object,
            self.bucket,
            key,
            io.BytesIO(data),
            len(data),
            content_type=content_type,
        )

    async def get(self, key: str) -> bytes:
        def read() -> bytes:
            response = self._client.get_object(self.bucket, key)
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()

        return await self._run(read)

    async def delete(self, key: str) -> None:
        await self._run(self._client.remove_object, self.bucket, key)

    async def keys(self, prefix: str) -> list[str]:
        def listing() -> list[str]:
            objects = self._client.list_objects(self.bucket, prefix=prefix, recursive=True)
            return [str(o.object_name) for o in objects]

        return await self._run(listing)

    async def _run(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, functools.partial(call, *args, **kwargs))

    async def close(self) -> None:
        self._threads.shutdown(wait=False)

    def presigned_get(self, key: str, expires: timedelta) -> str:
        """A GET URL that works for `expires` (computed locally, no network)."""
        return str(self._client.presigned_get_object(self.bucket, key, expires=expires))

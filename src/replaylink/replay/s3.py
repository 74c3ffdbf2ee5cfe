"""The segment store on S3 or any S3-compatible service (MinIO, Ceph, R2...), through boto3.

Credentials come from boto3's usual chain (environment, shared files, instance roles);
``REPLAYLINK_S3_ENDPOINT_URL`` points it at a service other than AWS. The bucket must exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from replaylink.replay.store import ROOT, StoredKey, StoreError, is_stored_key

DELETE_BATCH = 1000
"""DeleteObjects takes at most 1,000 keys."""


class S3Store:
    """Blobs as objects ``<prefix>/<key>`` in ``bucket``. A PUT is atomic on S3."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        config = Config(
            retries={"max_attempts": 4, "mode": "standard"},
            max_pool_connections=64,
            connect_timeout=5,
            read_timeout=20,
        )
        self.client: Any = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None) -> S3Store:
        parts = urlsplit(url)
        if not parts.netloc:
            from replaylink.config import ConfigError

            raise ConfigError("REPLAYLINK_REPLAY_STORE=s3://... needs a bucket: s3://bucket/prefix")
        return cls(parts.netloc, parts.path, endpoint_url=endpoint_url)

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def _object(self, key: str) -> str:
        if not is_stored_key(key):
            raise ValueError("not a replay store key")
        return self.prefix + key

    def _fail(self, action: str, exc: Exception) -> StoreError:
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "error")
            return StoreError(f"S3 refused to {action} in bucket {self.bucket} ({code})")
        return StoreError(f"cannot reach S3 to {action} in bucket {self.bucket} ({exc.__class__.__name__})")

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._object(key),
                Body=data,
                ContentType="application/json",
                ContentEncoding="gzip",
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("write", exc) from None

    def get(self, key: str) -> bytes | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._object(key))
            body: bytes = answer["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._fail("read", exc) from None
        except BotoCoreError as exc:
            raise self._fail("read", exc) from None
        return body

    def delete(self, keys: Iterable[str]) -> None:
        objects = [{"Key": self._object(key)} for key in keys]
        try:
            for start in range(0, len(objects), DELETE_BATCH):
                answer = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": objects[start : start + DELETE_BATCH], "Quiet": True},
                )
                if answer.get("Errors"):
                    raise StoreError(
                        f"S3 kept {len(answer['Errors'])} objects in bucket {self.bucket} "
                        f"({answer['Errors'][0].get('Code', 'error')})"
                    )
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("delete", exc) from None

    def list(self, prefix: str = ROOT + "/") -> Iterator[StoredKey]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", ()):
                    yield StoredKey(item["Key"][len(self.prefix) :], item["LastModified"])
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("list", exc) from None

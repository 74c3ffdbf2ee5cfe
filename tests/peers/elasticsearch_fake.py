"""A small Elasticsearch facade over osmem, for what osmem (OpenSearch-flavoured) lacks.

It answers like Elasticsearch 7/8/9: ``GET /`` without ``distribution``, ``POST /<idx>/_pit`` and
``DELETE /_pit``, API-key / basic auth with Elasticsearch's 401 and 403 error shapes, 429
``es_rejected_execution_exception``, and ES 8's refusal to sort on ``_id``. Queries themselves are
forwarded to an osmem cluster (``backend``), so their semantics are real; seed documents there.

Faults (``/_fake/faults``): 429, 500, slow, bad_json, truncated (a 200 without hits) and
endless_cursor (``search_after`` ignored). :func:`self_signed_cert` and :func:`serve_tls` give a TLS
endpoint for certificate tests.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import ipaddress
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from tests.peers.common import FakeState, Fault, control_routes, serve

WWW_AUTHENTICATE = ['Basic realm="security", charset="UTF-8"', "ApiKey"]


@dataclass
class EsFakeState(FakeState):
    """The fake's cluster: version, who may sign in, what they may do, which PITs are open."""

    backend: str = ""
    version: str = "8.15.0"
    api_keys: dict[str, str] = field(default_factory=dict)
    """API key id -> api_key. With no keys and no users the cluster is open."""
    users: dict[str, str] = field(default_factory=dict)
    no_read: set[str] = field(default_factory=set)
    """Principals (key ids, usernames) without the read privilege on any index: 403."""
    no_monitor: set[str] = field(default_factory=set)
    """Principals without the monitor cluster privilege: 403 on ``GET /``."""
    pit: bool = True
    """False answers ``/_pit`` like a cluster without it (Elasticsearch < 7.10)."""
    open_pits: set[str] = field(default_factory=set)

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


class EsError(Exception):
    """An Elasticsearch-shaped error answer."""

    def __init__(self, status: int, kind: str, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status, self.kind, self.reason, self.headers = status, kind, reason, headers or {}

    def response(self) -> JSONResponse:
        cause: dict[str, Any] = {"type": self.kind, "reason": self.reason}
        if self.status == 401:
            cause["header"] = {"WWW-Authenticate": WWW_AUTHENTICATE}
        body = {"error": {"root_cause": [cause], **cause}, "status": self.status}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


class Answer(Exception):
    """Short-circuit a route with a ready response (faults)."""

    def __init__(self, response: Response) -> None:
        super().__init__("answer")
        self.response = response


def make_app(state: EsFakeState) -> FastAPI:
    app = FastAPI()
    app.include_router(control_routes(state))

    @app.exception_handler(EsError)
    async def es_error(_: Request, exc: EsError) -> Response:
        return exc.response()

    @app.exception_handler(Answer)
    async def answer(_: Request, exc: Answer) -> Response:
        return exc.response

    async def admit(request: Request, action: str, body: Any = None) -> Fault | None:
        """Log, authenticate, authorize ``action``, then apply the next fault."""
        state.log_request(request, body)
        who = _principal(state, request)
        denied = state.no_monitor if action.startswith("cluster:") else state.no_read
        if who in denied:
            raise EsError(
                403,
                "security_exception",
                f"action [{action}] is unauthorized for API key id [{who}] of user [ops] "
                f"on indices [{request.path_params.get('index', '')}], this action is granted by "
                "the index privileges [read,all]",
            )
        fault = state.take_fault(request.url.path)
        if fault is None:
            return None
        if fault.kind == "429":
            raise EsError(
                429,
                "es_rejected_execution_exception",
                "rejected execution of coordinating operation [shard_detail=[search]] on "
                "EsThreadPoolExecutor[name = es01/search, queue capacity = 1000]",
            )
        if fault.kind == "500":
            raise EsError(500, "search_phase_execution_exception", "all shards failed")
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        if fault.kind == "bad_json":
            raise Answer(PlainTextResponse('{"took": 1, "hits": {', media_type="application/json"))
        if fault.kind == "truncated":
            raise Answer(JSONResponse({"took": 1, "timed_out": False}))
        return fault

    async def forward(method: str, path: str, body: Any = None, params: Any = None) -> JSONResponse:
        async with httpx.AsyncClient(base_url=state.backend, timeout=30) as client:
            response = await client.request(method, path, json=body, params=params)
        return JSONResponse(response.json(), status_code=response.status_code)

    def reject_sort(body: dict[str, Any]) -> None:
        """Elasticsearch 8+ refuses ``_id`` sorts; ``_shard_doc`` needs a PIT everywhere."""
        fields = {
            name for item in body.get("sort") or [] for name in (item if isinstance(item, dict) else [item])
        }
        if "_id" in fields and state.major >= 8:
            raise EsError(
                400,
                "illegal_argument_exception",
                "Fielddata access on the _id field is disallowed, you can re-enable it by updating "
                "the dynamic cluster setting: indices.id_field_data.enabled",
            )
        if "_shard_doc" in fields and "pit" not in body:
            raise EsError(
                400,
                "illegal_argument_exception",
                "[_shard_doc] sort field cannot be used without [point in time]",
            )

    @app.get("/")
    async def root(request: Request) -> Response:
        await admit(request, "cluster:monitor/main")
        return JSONResponse(
            {
                "name": "es01",
                "cluster_name": "docker-cluster",
                "cluster_uuid": "f4kEcLuStEr",
                "version": {
                    "number": state.version,
                    "build_flavor": "default",
                    "build_type": "docker",
                    "build_snapshot": False,
                    "lucene_version": "9.11.1",
                    "minimum_wire_compatibility_version": "7.17.0",
                    "minimum_index_compatibility_version": "7.0.0",
                },
                "tagline": "You Know, for Search",
            }
        )

    @app.post("/_search")
    async def pit_search(request: Request) -> Response:
        body = await request.json()
        fault = await admit(request, "indices:data/read/search", body)
        if "pit" not in body:
            raise EsError(400, "action_request_validation_exception", "this fake needs an index or a pit")
        reject_sort(body)
        if fault is not None and fault.kind == "endless_cursor":
            body.pop("search_after", None)
        return await forward("POST", "/_search", body)

    @app.post("/{index}/_search")
    async def index_search(index: str, request: Request) -> Response:
        body = await request.json()
        fault = await admit(request, "indices:data/read/search", body)
        if "pit" in body:
            raise EsError(
                400, "action_request_validation_exception", "[indices] cannot be used with point in time"
            )
        reject_sort(body)
        if fault is not None and fault.kind == "endless_cursor":
            body.pop("search_after", None)
        return await forward("POST", f"/{_path(index)}/_search", body)

    @app.post("/{index}/_pit")
    async def open_pit(index: str, request: Request) -> Response:
        await admit(request, "indices:data/read/open_point_in_time")
        if not state.pit:
            return JSONResponse(
                {"error": f"no handler found for uri [{request.url.path}] and method [POST]", "status": 400},
                status_code=400,
            )
        keep_alive = request.query_params.get("keep_alive")
        if not keep_alive:
            raise EsError(
                400, "action_request_validation_exception", "Validation Failed: 1: [keep_alive] is missing;"
            )
        answer = await forward(
            "POST", f"/{_path(index)}/_search/point_in_time", params={"keep_alive": keep_alive}
        )
        if answer.status_code != 200:
            return answer
        pit_id = _json(answer)["pit_id"]
        with state.lock:
            state.open_pits.add(pit_id)
        return JSONResponse({"id": pit_id})

    @app.delete("/_pit")
    async def close_pit(request: Request) -> Response:
        body = await request.json()
        await admit(request, "indices:data/read/close_point_in_time", body)
        pit_id = body.get("id")
        with state.lock:
            known = pit_id in state.open_pits
            state.open_pits.discard(pit_id)
        if known:
            await forward("DELETE", "/_search/point_in_time", {"pit_id": [pit_id]})
        return JSONResponse({"succeeded": True, "num_freed": int(known)}, status_code=200 if known else 404)

    @app.get("/{index}/_field_caps")
    async def field_caps(index: str, request: Request) -> Response:
        await admit(request, "indices:data/read/field_caps")
        return await forward("GET", f"/{_path(index)}/_field_caps", params=dict(request.query_params))

    return app


def _principal(state: EsFakeState, request: Request) -> str:
    """Who signed in; raise Elasticsearch's 401 otherwise."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if not scheme:
        if state.api_keys or state.users:
            raise EsError(
                401,
                "security_exception",
                f"missing authentication credentials for REST request [{request.url.path}]",
                headers={"WWW-Authenticate": ", ".join(WWW_AUTHENTICATE)},
            )
        return "anonymous"
    try:
        name, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        name, secret = "", ""
    known = state.api_keys if scheme == "ApiKey" else state.users if scheme == "Basic" else {}
    if name and known.get(name) == secret:
        return name
    raise EsError(
        401,
        "security_exception",
        "unable to authenticate with provided credentials and anonymous access is not allowed "
        "for this request",
        headers={"WWW-Authenticate": ", ".join(WWW_AUTHENTICATE)},
    )


def _path(index: str) -> str:
    return quote(index, safe=",*:")


def _json(response: JSONResponse) -> Any:
    return json.loads(bytes(response.body))


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class Cert:
    """A self-signed CA certificate for 127.0.0.1 and its key, as PEM text."""

    cert_pem: str
    key_pem: str


def self_signed_cert() -> Cert:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "replaylink-test-es")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Cert(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )


@contextmanager
def serve_tls(app: Any, cert: Cert, directory: Path) -> Iterator[str]:
    """Like :func:`tests.peers.common.serve`, over HTTPS with ``cert``; yields the base URL."""
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_text(cert.cert_pem)
    key_file.write_text(cert.key_pem)
    with serve(app, ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)) as url:
        yield url

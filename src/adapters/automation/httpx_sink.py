"""``AutomationSink`` over httpx: one signed POST per call, with a hard deadline.

Safety, beyond the URL check at subscription time:

- the host is resolved here, always (also when the subscription allows private
  targets: a name may still point at a metadata or link-local address), and every
  address it resolves to must be allowed (``whatsapp_core.automation.address_refusal``);
  the request then goes to those very addresses, in order until one connects (Host
  header and TLS server name stay the original name), so DNS cannot answer
  differently between the check and the connection (rebinding);
- redirects are never followed (a 3xx is a failed delivery), so a public receiver
  cannot bounce us to a private address;
- environment proxies are ignored (``trust_env=False``), for the same reason;
- one deadline covers resolution, connection, headers and the excerpt of the body,
  so a receiver that drips bytes cannot hold a worker slot longer than ``timeout``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime

import httpx

from whatsapp_core.automation import (
    EXCERPT_CHARS,
    DeliveryResult,
    IpAddress,
    address_refusal,
    excerpt,
)

Resolver = Callable[[str, int], Awaitable[list[str]]]


class _Refused(Exception):
    pass


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class HttpxAutomationSink:
    """``platform_allows_private`` is the operator's ceiling: when ``False`` no
    subscription reaches a private address, whatever its tenant admin allowed."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        platform_allows_private: bool = True,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._timeout = timeout
        self._connect_timeout = min(connect_timeout, timeout)
        self._platform_allows_private = platform_allows_private
        self._resolve = resolver
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        # Made on first use, so building the sink (in the composition root) opens nothing.
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                trust_env=False,
                timeout=httpx.Timeout(self._timeout, connect=self._connect_timeout),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                transport=self._transport,
            )
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def deliver(
        self, url: str, body: bytes, headers: Mapping[str, str], *, allow_private: bool = False
    ) -> DeliveryResult:
        allow = allow_private and self._platform_allows_private
        started = time.perf_counter()

        def took() -> float:
            return round((time.perf_counter() - started) * 1000, 2)

        try:
            async with asyncio.timeout(self._timeout):
                requests = await self._requests(url, body, headers, allow)
                response = await self._send_to_first_that_connects(requests)
                try:
                    text = await _read_excerpt(response)
                finally:
                    await response.aclose()
        except _Refused as exc:
            return DeliveryResult(latency_ms=took(), error=str(exc), refused=True)
        except (TimeoutError, httpx.TimeoutException):
            return DeliveryResult(latency_ms=took(), error=f"timed out after {self._timeout:g} s")
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            return DeliveryResult(latency_ms=took(), error=f"{type(exc).__name__}: {reason}")
        return DeliveryResult(
            status_code=response.status_code,
            latency_ms=took(),
            response_excerpt=text,
            retry_after=_retry_after(response.headers.get("retry-after")),
        )

    async def _requests(
        self, url: str, body: bytes, headers: Mapping[str, str], allow_private: bool
    ) -> list[httpx.Request]:
        """One request per allowed address of the target, in the resolver's order."""
        target = httpx.URL(url)
        if target.scheme not in ("http", "https") or not target.host:
            raise _Refused(f"not an http(s) URL: {url}")
        literal = _address(target.host)
        if literal is not None:
            _check(literal, allow_private)
            return [self._http().build_request("POST", target, content=body, headers=headers)]
        port = target.port or (443 if target.scheme == "https" else 80)
        try:
            found = await self._resolve(target.host, port)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {target.host}: {exc}") from exc
        if not found:
            raise httpx.ConnectError(f"{target.host} resolves to no address")
        addresses = []
        for text in found:
            address = _address(text)
            if address is None:
                raise _Refused(f"{target.host} resolved to {text!r}, not an address")
            _check(address, allow_private)  # every one, so no answer can slip through
            addresses.append(text)
        # Connect to the addresses just checked; the name stays in Host and in TLS.
        pinned = {**headers, "Host": target.netloc.decode("ascii")}
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        return [
            self._http().build_request(
                "POST", target.copy_with(host=address), content=body, headers=pinned,
                extensions=extensions,
            )
            for address in addresses
        ]  # fmt: skip

    async def _send_to_first_that_connects(self, requests: list[httpx.Request]) -> httpx.Response:
        for request in requests[:-1]:
            try:
                return await self._http().send(request, stream=True)
            except httpx.ConnectError:
                continue  # e.g. "localhost" -> ::1 first, the receiver on 127.0.0.1 only
        return await self._http().send(requests[-1], stream=True)


def _address(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _check(address: IpAddress, allow_private: bool) -> None:
    reason = address_refusal(address, allow_private=allow_private)
    if reason:
        raise _Refused(f"webhook target refused: {reason}")


async def _read_excerpt(response: httpx.Response) -> str | None:
    """The start of the body, enough for ``EXCERPT_CHARS`` characters; the rest unread."""
    limit = EXCERPT_CHARS * 4
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    if not data:
        return None
    return excerpt(bytes(data[:limit]).decode("utf-8", "replace"))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())

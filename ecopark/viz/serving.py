"""Serve the page's static front-end once per server, not once per visitor.

Each new browser loads about 7 MB of JavaScript, CSS and fonts (vuetify, ECharts, ...).
Solara's server gzips every response at Starlette's level 9 as it sends it: about 1 s of
server CPU per visitor, most of it ``echarts.js`` (3.2 MB). A class of thirty opening
the page at once queued 30 s of CPU in front of their first render.

:class:`CachedStaticGZip` takes the place of that middleware: a static file (a path under
``/_solara/cdn/`` or ``/static/``, a plain 200 answer to a GET without conditions or
ranges) is compressed once and its bytes replayed to every later visitor; everything else
(the page itself, which sets the session cookie, the websocket, the API) is compressed per
response as before. Visitors asking for a file that is being compressed wait for it rather
than compress it again (a class opens the page at the same moment). Compression is at
zlib's default level, :data:`COMPRESS_LEVEL` (Starlette's 9 took four times the CPU on
``echarts.js`` for an answer 1 % smaller). The cache holds at most :data:`CACHE_BYTES`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware

#: Path prefixes of files that are the same for every visitor.
STATIC_PREFIXES = ("/_solara/cdn/", "/static/")
#: Most bytes of compressed responses kept (the page needs about 2 MB).
CACHE_BYTES = 64 * 2**20
#: zlib level of every compressed answer (Starlette's default is 9).
COMPRESS_LEVEL = 6
#: Request headers that make an answer depend on more than the path.
CONDITIONAL = (b"if-none-match", b"if-modified-since", b"range", b"if-range")


class CachedStaticGZip:
    """ASGI middleware: Starlette's GZip, with static answers compressed once and cached.

    The cache key is the path, the query string and whether the client accepts gzip (the
    answer differs). Only complete 200 answers are stored.
    """

    def __init__(self, app: Any, minimum_size: int = 1000, compresslevel: int = COMPRESS_LEVEL) -> None:
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=compresslevel)
        self.cache: dict[tuple[str, bytes, bool], list[dict[str, Any]]] = {}
        self.pending: dict[tuple[str, bytes, bool], asyncio.Event] = {}
        self.cached_bytes = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not self._cacheable(scope):
            await self.gzip(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        key = (scope["path"], scope.get("query_string", b""), b"gzip" in headers.get(b"accept-encoding", b""))
        if key in self.pending:  # another visitor's request is compressing this file: wait for it
            await self.pending[key].wait()
        messages = self.cache.get(key)
        if messages is not None:
            for message in messages:
                await send(message)
            return
        recorded: list[dict[str, Any]] = []

        async def record(message: dict[str, Any]) -> None:
            recorded.append(message)
            await send(message)

        done = self.pending.setdefault(key, asyncio.Event())
        try:
            await self.gzip(scope, receive, record)
            self._store(key, recorded)
        finally:
            if self.pending.get(key) is done:
                del self.pending[key]
            done.set()

    @staticmethod
    def _cacheable(scope: dict[str, Any]) -> bool:
        if scope["type"] != "http" or scope.get("method") != "GET":
            return False
        if not any(scope["path"].startswith(prefix) for prefix in STATIC_PREFIXES):
            return False
        return not any(name in CONDITIONAL for name, _ in scope.get("headers") or [])

    def _store(self, key: tuple[str, bytes, bool], messages: list[dict[str, Any]]) -> None:
        if not messages or messages[0].get("type") != "http.response.start" or messages[0].get("status") != 200:
            return
        if messages[-1].get("type") != "http.response.body" or messages[-1].get("more_body", False):
            return
        size = sum(len(m.get("body", b"")) for m in messages)
        if self.cached_bytes + size <= CACHE_BYTES:
            self.cache[key] = messages
            self.cached_bytes += size


def install(starlette_app: Any) -> bool:
    """Put :class:`CachedStaticGZip` (at :data:`COMPRESS_LEVEL`) in place of ``starlette_app``'s
    GZip middleware (Solara's server app); the middleware stack is rebuilt on the next
    request. Returns whether it did."""
    for index, entry in enumerate(starlette_app.user_middleware):
        if entry.cls is GZipMiddleware:
            kwargs = {**entry.kwargs, "compresslevel": COMPRESS_LEVEL}
            starlette_app.user_middleware[index] = Middleware(CachedStaticGZip, **kwargs)
            starlette_app.middleware_stack = None
            return True
    return False

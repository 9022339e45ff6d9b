"""Which client sent an event: its network address, for limits that must not depend on the
workspace (a workspace is a key the client makes itself, so one client can have any number).

Gradio gives an event the connection's address (`gr.Request.client.host`). Behind a reverse proxy
that is the proxy's: uvicorn (Gradio's server) replaces it with the `X-Forwarded-For` address only
for connections from `FORWARDED_ALLOW_IPS` (127.0.0.1 by default: a proxy on the same machine).
On a Hugging Face Space every connection comes from Hugging Face's proxy, from an internal
address (10.x) that is the same for every visitor, so there the address is the last entry of
`X-Forwarded-For`: the one that proxy added, for the address that connected to it. Entries to
its left are whatever the client sent itself, so a client can't pick its own address by sending
the header. (Not testable from here: if Hugging Face ever put a second proxy in the chain, every
visitor would look like one client, and share its limits: docs/SECURITY.md, "Known gaps".)

An address is a weaker identity than it looks (many visitors share one behind a NAT, one visitor
can have many with IPv6 or a botnet): limits keyed by it must wait or take turns rather than
refuse where a shared address would hurt, and bound the many-address case by other means.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import gradio as gr

from rag.web.guard import space_hosts


def client_address(request: gr.Request | None, environ: Mapping[str, str] | None = None) -> str:
    """The client's address ("" when the request has none: a test, an internal call)."""
    if request is None:
        return ""
    if space_hosts(dict(os.environ if environ is None else environ)):
        headers = getattr(request, "headers", None) or {}
        forwarded = (headers.get("x-forwarded-for") or "").split(",")[-1].strip()
        if forwarded:
            return forwarded[:64]
    client = getattr(request, "client", None)
    return str(getattr(client, "host", "") or "")[:64]

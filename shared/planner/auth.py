"""How the Planner client authenticates: an Entra credential in Azure, a fixed token against the sandbox.

Why allowed hosts everywhere: the SDK follows absolute @odata.nextLink URLs; a token must only ever go to
the Graph host we were configured for (or to loopback for the development token), never to a host a
response happened to name. Kiota's providers send no Authorization header to other hosts.
"""

from __future__ import annotations

from typing import Any, Union
from urllib.parse import urlsplit

from azure.core.credentials_async import AsyncTokenCredential
from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator, AuthenticationProvider
from kiota_abstractions.authentication.base_bearer_token_authentication_provider import (
    BaseBearerTokenAuthenticationProvider,
)
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider

from shared.settings import GraphAuthMode, Settings

# The fixed development token the sandbox accepts (sandbox/graph.py DEV_TOKEN; a test keeps them equal).
# The app does not import the sandbox: the sandbox is a stand-in for Microsoft's service, not app code.
DEVELOPMENT_TOKEN = "sandbox-graph-token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")

AuthInput = Union[AuthenticationProvider, AsyncTokenCredential, str]


class _StaticTokenProvider(AccessTokenProvider):
    """Hands out one fixed token, to loopback hosts only."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._validator = AllowedHostsValidator(list(LOOPBACK_HOSTS))

    async def get_authorization_token(self, uri: str,
                                      additional_authentication_context: dict[str, Any] = {}) -> str:  # noqa: B006 - kiota's signature
        return self._token if self._validator.is_url_host_valid(uri) else ""

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._validator

    def __repr__(self) -> str:
        return "_StaticTokenProvider(token=<hidden>)"


def is_loopback(base_url: str) -> bool:
    return urlsplit(base_url).hostname in LOOPBACK_HOSTS


def auth_provider_for(auth: AuthInput, base_url: str) -> AuthenticationProvider:
    """A kiota AuthenticationProvider for `auth`: used as is, built around an azure.identity.aio credential
    (scope and allowed host taken from base_url), or a fixed development token (loopback URLs only)."""
    if isinstance(auth, AuthenticationProvider):
        return auth
    if isinstance(auth, str):
        if not is_loopback(base_url):
            raise ValueError("a development token may only be sent to 127.0.0.1 or localhost, "
                             f"not to {urlsplit(base_url).hostname}")
        return BaseBearerTokenAuthenticationProvider(_StaticTokenProvider(auth))
    if hasattr(auth, "get_token"):
        host = urlsplit(base_url).hostname or ""
        # https://graph.microsoft.com/v1.0 -> scope https://graph.microsoft.com/.default (app-only tokens).
        return AzureIdentityAuthenticationProvider(auth, scopes=[f"https://{host}/.default"], allowed_hosts=[host])
    raise TypeError("auth must be a kiota AuthenticationProvider, an azure.identity.aio credential or a "
                    "development token string")


def credential_from_settings(settings: Settings) -> Union[AsyncTokenCredential, str]:
    """The credential GRAPH_AUTH_MODE asks for: the app's managed identity, an app registration secret,
    or the sandbox's development token (only for a loopback GRAPH_BASE_URL)."""
    from azure.identity.aio import ClientSecretCredential, ManagedIdentityCredential

    mode = settings.GRAPH_AUTH_MODE
    if mode is GraphAuthMode.managed_identity:
        # A user-assigned identity is chosen by its client id; None means the system-assigned one.
        return ManagedIdentityCredential(client_id=settings.GRAPH_CLIENT_ID or None)
    if mode is GraphAuthMode.client_secret:
        tenant, client, secret = settings.GRAPH_TENANT_ID, settings.GRAPH_CLIENT_ID, settings.GRAPH_CLIENT_SECRET
        if not (tenant and client and secret):  # Settings already insists; this keeps the types honest
            raise ValueError("GRAPH_AUTH_MODE=client_secret needs GRAPH_TENANT_ID, GRAPH_CLIENT_ID and "
                             "GRAPH_CLIENT_SECRET")
        return ClientSecretCredential(tenant, client, secret.get_secret_value())
    if not is_loopback(settings.GRAPH_BASE_URL):
        raise ValueError("GRAPH_AUTH_MODE=development is only allowed with a GRAPH_BASE_URL on 127.0.0.1 "
                         "or localhost")
    return DEVELOPMENT_TOKEN

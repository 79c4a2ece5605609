"""The Plytix PIM API client: `PlytixClient`, its typed errors, its rate limiter and the account's search schema."""

from shared.plytix.client import MAX_PAGE_SIZE, MAX_SEARCH_ATTRIBUTES, ClientStats, PlytixClient
from shared.plytix.errors import (
    AuthError,
    Conflict,
    NotFound,
    OrderTooBroad,
    PlytixError,
    RateLimited,
    Unavailable,
    ValidationFailed,
)
from shared.plytix.ratelimit import RateLimiter
from shared.plytix.schema import SearchSchema, search_schema

__all__ = ["AuthError", "ClientStats", "Conflict", "MAX_PAGE_SIZE", "MAX_SEARCH_ATTRIBUTES", "NotFound",
           "OrderTooBroad", "PlytixClient", "PlytixError", "RateLimited", "RateLimiter", "SearchSchema", "Unavailable",
           "ValidationFailed", "search_schema"]

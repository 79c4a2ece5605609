"""Rules files for job 5's tests: one `channel_requirements` rule on the sandbox plan, its channel's
owner the Amazon marketplace manager, fields given as YAML flow mappings."""

from __future__ import annotations

from sandbox.catalog import AMAZON_TITLE_MAX
from sandbox.graph_state import PRODUCT_DATA_PLAN_ID

TITLE_TOO_LONG = f"{{attribute: amazon_title, max_length: {AMAZON_TITLE_MAX}}}"


def channel_rules(*fields: str, plytix_channel: str = "amazon") -> str:
    """Rule `amazon-listing` ("Amazon listing"), channel `amazon`, checking `fields`."""
    lines = "".join(f"          - {field}\n" for field in fields)
    return f"""\
version: 1
defaults:
  plan_id: {PRODUCT_DATA_PLAN_ID}
  bucket: Channels
  owner: content.editor@contoso.example
rules:
  - id: amazon-listing
    type: channel_requirements
    name: Amazon listing
    channels:
      amazon:
        plytix_channel: {plytix_channel}
        owner: channel.amazon@contoso.example
        fields:
{lines}"""

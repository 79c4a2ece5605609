"""Job 5's event side: Plytix's channel webhook, and the check of the feed a channel published.

The webhook only says WHEN to look (API_FACTS.md: Plytix's one outgoing webhook fires when a channel
finishes processing). The feed check reads the published feed and records, per product and channel,
what the feed got wrong; the `channel_requirements` rule turns that into findings, which go through the
same reconciler as every other finding.
"""

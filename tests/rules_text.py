"""The opening lines every rules-file test builds on (lines 1-6; the first rule starts on line 7)."""

HEAD = """\
version: 1
defaults:
  plan_id: plan-1
  bucket: Product data
  owner: merch.lead@contoso.example
rules:
"""

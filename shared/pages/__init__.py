"""The HTML pages people look at (issue 13): the operations dashboard.

Server-rendered with Jinja2 (autoescaping on for every template, so product text such as a label holding
`<script>` is shown as text), charts as inline SVG built here (no CDN, no script: the content works without
JavaScript), laid out to fit a phone. The HTTP adapters live in shared/blueprints/pages.py.
"""

"""Catalog projects (job 7) beyond the rule itself: progress from Planner back to Plytix (progress.py) and
the project summaries the JSON API and the report page show (summary.py). The rule, its config and its
findings are shared/rules/catalog_project.py."""

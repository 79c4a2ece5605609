"""GET /api/projects/{id}/report: a catalog project (job 7) as a page: progress per milestone and group as
inline SVG bars, the late items, and links to the Planner tasks and the Plytix products. The data is the
project's summary (shared/projects/summary.py); the template escapes every value."""

from __future__ import annotations

from datetime import datetime

from shared.pages.charts import bars
from shared.pages.render import render
from shared.projects.summary import ProjectSummary


def page(summary: ProjectSummary, generated: datetime) -> str:
    milestone_bars = bars([(m.name, m.percent) for m in summary.milestones], scale=100.0, unit="%")
    group_bars = {m.id: bars([(g.name, g.percent) for g in m.groups], scale=100.0, unit="%")
                  for m in summary.milestones}
    late = [(m, g) for m in summary.milestones for g in m.groups if g.late]
    return render("project_report.html", p=summary, generated=generated, milestone_bars=milestone_bars,
                  group_bars=group_bars, late=late,
                  late_milestones=[m.name for m in summary.late_milestones])

"""Microsoft Planner through Microsoft Graph: a synchronous client with typed models and errors."""

from shared.planner.client import PlannerClient
from shared.planner.errors import (
    PlannerError,
    PlannerLimitError,
    PlannerNotFound,
    PlannerStale,
    PlannerThrottled,
    PlannerUncertainWrite,
)
from shared.planner.models import ChecklistItem, PlannerTask, Reference, TaskDetails, TaskSpec
from shared.planner.stats import PlannerStats

__all__ = ["ChecklistItem", "PlannerClient", "PlannerError", "PlannerLimitError", "PlannerNotFound",
           "PlannerStale", "PlannerStats", "PlannerTask", "PlannerThrottled", "PlannerUncertainWrite", "Reference",
           "TaskDetails", "TaskSpec"]

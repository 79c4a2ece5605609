"""`on_complete`: what a rule writes back to Plytix when a person completes one of its tasks (job 4).

Why its own module: the write-back is a rule-level setting shared by every rule type (jobs 1, 2, 3 and 7
all end in "the product moves on"), and its validation needs the whole file's stage map. Keeping the
model, the stage arithmetic and the checks here leaves shared/rules/config.py a one-line hook.

Plytix facts behind the shape (API_FACTS.md): the system `status` takes only Draft, Completed and
Archived; richer workflow stages (approved, ready for syndication, published) live in a custom Dropdown
attribute, named by the file's `workflow_stage_attribute`. The file declares the stage map, in order,
as `workflow_stages`: it is what "next stage" and "never backwards" mean.

    workflow_stages: [draft, enrichment, approved, ready_for_syndication, published]
    rules:
      - id: final-review
        ...
        on_complete:
          stage: next                  # or a named stage, e.g. published
          set: {syndication_ready: true}
          status: Completed
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, Literal, Optional, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.rules.errors import PathPart

NEXT_STAGE = "next"
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,100}")
# JSON values Plytix attributes take: text, numbers, booleans, null (clear), lists (multi-select, media).
AttributeValue = Union[None, bool, int, float, str, list[Union[str, int, float]]]

Problems = Iterator[tuple[tuple[PathPart, ...], str]]


class OnCompleteConfig(BaseModel):
    """The write-back of one rule. At least one of stage, set, status."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: Optional[str] = Field(None, description="`next` (the stage after the one the product was in when "
                                                   "the task was created) or a stage of workflow_stages")
    set: dict[str, AttributeValue] = Field(default_factory=dict)
    status: Optional[Literal["Draft", "Completed", "Archived"]] = None

    @field_validator("stage")
    @classmethod
    def _stage(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not value.strip():
            raise ValueError("must be 'next' or a stage named in workflow_stages")
        return value.strip() if value is not None else None

    @field_validator("set")
    @classmethod
    def _labels(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = sorted(label for label in value if not _LABEL.fullmatch(label))
        if bad:
            raise ValueError(f"{', '.join(map(repr, bad))}: not attribute labels (the slug such as "
                             "syndication_ready, not the display name)")
        return value

    @field_validator("status", mode="before")
    @classmethod
    def _status_case(cls, value: Any) -> Any:
        if isinstance(value, str):
            for status in ("Draft", "Completed", "Archived"):
                if value.strip().lower() == status.lower():
                    return status
            raise ValueError(f"{value!r}: Plytix status is only Draft, Completed or Archived; workflow "
                             "stages go in `stage`")
        return value

    @model_validator(mode="after")
    def _does_something(self) -> "OnCompleteConfig":
        if self.stage is None and not self.set and self.status is None:
            raise ValueError("set at least one of stage, set, status")
        return self


def on_complete_problems(on_complete: OnCompleteConfig, stages: Optional[Sequence[str]],
                         stage_attribute: str) -> Problems:
    """File-level checks of one rule's on_complete; paths are relative to the rule."""
    if on_complete.stage is not None:
        if not stages:
            yield ("on_complete", "stage"), "needs workflow_stages: declare the stage map at the top of the file"
        elif on_complete.stage != NEXT_STAGE and stage_index(stages, on_complete.stage) is None:
            yield ("on_complete", "stage"), (f"unknown stage {on_complete.stage!r}: use 'next' or one of "
                                             f"{', '.join(stages)}")
    if stage_attribute in on_complete.set:
        yield ("on_complete", "set", stage_attribute), "the workflow stage is moved with `stage`, not `set`"


def stage_map_problems(stages: Optional[Sequence[str]]) -> Problems:
    """The declared stage map must name each stage once."""
    seen: dict[str, int] = {}
    for index, stage in enumerate(stages or ()):
        key = stage.casefold()
        if key in seen:
            yield ("workflow_stages", index), f"{stage!r} is already listed at workflow_stages[{seen[key]}]"
        seen.setdefault(key, index)


def stage_index(stages: Sequence[str], stage: Optional[str]) -> Optional[int]:
    """Position of `stage` in the map (Plytix dropdown text compares ignore case); None when absent."""
    if stage is None:
        return None
    wanted = stage.strip().casefold()
    return next((i for i, s in enumerate(stages) if s.casefold() == wanted), None)


@dataclass(frozen=True)
class PlannedWrite:
    """What a write-back should change, worked out once when the completion is recorded."""

    attributes: dict[str, Any]
    status: Optional[str]
    target_stage: Optional[str]  # None: the stage is not moved
    reason: str

    @property
    def empty(self) -> bool:
        return not self.attributes and self.status is None


def plan_write(on_complete: OnCompleteConfig, stages: Sequence[str], stage_attribute: str,
               stage_at_creation: Optional[str]) -> PlannedWrite:
    """The changes for a completion. `next` is counted from the stage the product was in when the task
    was created (not from where it is now: a product that moved meanwhile is a conflict, found later)."""
    attributes: dict[str, Any] = dict(on_complete.set)
    target: Optional[str] = None
    reason = "on_complete"
    if on_complete.stage == NEXT_STAGE:
        index = stage_index(stages, stage_at_creation)
        if index is None:
            reason = f"stage at task creation {stage_at_creation!r} is not in workflow_stages: stage not moved"
        elif index + 1 >= len(stages):
            reason = f"{stages[index]!r} is the last stage: stage not moved"
        else:
            target = stages[index + 1]
    elif on_complete.stage is not None:
        target = stages[stage_index(stages, on_complete.stage) or 0]
    if target is not None:
        attributes[stage_attribute] = target
        reason = f"stage {stage_at_creation or '(unknown)'} -> {target}"
    return PlannedWrite(attributes=attributes, status=on_complete.status, target_stage=target, reason=reason)

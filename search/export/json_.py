"""`--format json`: the plan file itself, normalized (the engine-neutral form)."""

from __future__ import annotations

from perfmodel.search.export._base import Export, Exporter, register
from perfmodel.search.plan_file import PlanFile


@register
class JsonExporter(Exporter):
    name = "json"

    def export(self, plan: PlanFile) -> Export:
        return Export(engine="json", files={"plan.json": plan.model_dump_json(indent=2) + "\n"})

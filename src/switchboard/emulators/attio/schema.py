"""Objects and attributes: the workspace's schema (people, companies, custom objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from switchboard.emulators.attio.values import format_ts


@dataclass
class AttributeDef:
    id: str
    api_slug: str
    title: str
    type: str
    is_multiselect: bool = False
    is_unique: bool = False
    is_required: bool = False
    is_system: bool = False
    is_writable: bool = True
    target_object: str | None = None  # record-reference: slug of the referenced object
    description: str | None = None
    created_at: datetime | None = None

    def to_json(self, workspace_id: str, object_id: str, allowed_ids: list[str]) -> dict[str, Any]:
        return {
            "id": {
                "workspace_id": workspace_id,
                "object_id": object_id,
                "attribute_id": self.id,
            },
            "title": self.title,
            "description": self.description,
            "api_slug": self.api_slug,
            "type": self.type,
            "is_system_attribute": self.is_system,
            "is_writable": self.is_writable,
            "is_required": self.is_required,
            "is_unique": self.is_unique,
            "is_multiselect": self.is_multiselect,
            "is_default_value_enabled": False,
            "is_archived": False,
            "default_value": None,
            "relationship": None,
            "created_at": format_ts(self.created_at) if self.created_at else None,
            "config": {
                "currency": {"default_currency_code": None, "display_type": None},
                "record_reference": {
                    "allowed_object_ids": allowed_ids if self.type == "record-reference" else None
                },
            },
        }


@dataclass
class ObjectDef:
    id: str
    api_slug: str
    singular_noun: str
    plural_noun: str
    created_at: datetime
    attributes: dict[str, AttributeDef] = field(default_factory=dict)

    def attribute(self, slug_or_id: str) -> AttributeDef | None:
        found = self.attributes.get(slug_or_id)
        if found is not None:
            return found
        for attr in self.attributes.values():
            if attr.id == slug_or_id:
                return attr
        return None

    def to_json(self, workspace_id: str) -> dict[str, Any]:
        return {
            "id": {"workspace_id": workspace_id, "object_id": self.id},
            "api_slug": self.api_slug,
            "singular_noun": self.singular_noun,
            "plural_noun": self.plural_noun,
            "created_at": format_ts(self.created_at),
        }


# (slug, title, type, multiselect, unique, target_object)
STANDARD_ATTRIBUTES: dict[str, list[tuple[str, str, str, bool, bool, str | None]]] = {
    "people": [
        ("name", "Name", "personal-name", False, False, None),
        ("email_addresses", "Email addresses", "email-address", True, True, None),
        ("phone_numbers", "Phone numbers", "phone-number", True, False, None),
        ("job_title", "Job title", "text", False, False, None),
        ("company", "Company", "record-reference", False, False, "companies"),
        ("description", "Description", "text", False, False, None),
        ("primary_location", "Primary location", "text", False, False, None),
    ],
    "companies": [
        ("name", "Name", "text", False, False, None),
        ("domains", "Domains", "domain", True, True, None),
        ("description", "Description", "text", False, False, None),
    ],
}

SYSTEM_ATTRIBUTES: list[tuple[str, str, str]] = [
    ("record_id", "Record ID", "text"),
    ("created_at", "Created at", "timestamp"),
    ("created_by", "Created by", "actor-reference"),
]

"""Typed Quo resources. Field names follow Quo's JSON (camelCase) through aliases."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _QuoModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class LabeledValue(_QuoModel):
    name: str
    value: str | None


class DefaultFields(_QuoModel):
    first_name: str | None = Field(default=None, alias="firstName")
    last_name: str | None = Field(default=None, alias="lastName")
    company: str | None = None
    role: str | None = None
    emails: list[LabeledValue] = Field(default_factory=list)
    phone_numbers: list[LabeledValue] = Field(default_factory=list, alias="phoneNumbers")


class ContactInput(_QuoModel):
    """The body of Quo's create/update contact: what a CRM person becomes in Quo."""

    default_fields: DefaultFields = Field(alias="defaultFields")
    external_id: str = Field(alias="externalId", min_length=1, max_length=75)
    source: str | None = Field(default=None, min_length=1, max_length=72)
    source_url: str | None = Field(default=None, alias="sourceUrl", max_length=200)

    def to_api(self) -> dict[str, object]:
        """JSON body for Quo, camelCase, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True)

    def phones(self) -> list[str]:
        return [p.value for p in self.default_fields.phone_numbers if p.value]

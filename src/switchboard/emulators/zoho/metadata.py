"""The modules and fields the emulator serves, and their metadata answers (`/settings/modules`,
`/settings/fields`, `/settings/layouts`), filled to the documented shape by `spec.skeleton()`.

Records are checked against the same definitions (`FieldDef`), so metadata and records agree:
an official SDK reads the field metadata first and refuses values that do not fit it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from switchboard.emulators.zoho.spec import skeleton

PHONE_FIELDS = ("Phone", "Mobile", "Home_Phone", "Other_Phone", "Assistant_Phone")

# Standard modules with records; Notes has its own endpoint but is listed by /settings/modules.
RECORD_MODULES = ("Leads", "Contacts", "Accounts", "Calls")
ALL_MODULES = (*RECORD_MODULES, "Notes")

# Modules a Calls record's `What_Id` may point to (the "related to" record, named by
# `$se_module`); Deals is a Zoho module the emulator does not serve, so not accepted here.
WHAT_ID_MODULES = ("Leads", "Accounts")


@dataclass(frozen=True)
class FieldDef:
    api_name: str
    data_type: str  # text, email, phone, textarea, lookup, ownerlookup, picklist, datetime, ...
    label: str
    mandatory: bool = False
    read_only: bool = False
    lookup_module: str | None = None
    picklist: tuple[str, ...] = ()
    length: int = 255

    @property
    def json_type(self) -> str:
        return {
            "lookup": "jsonobject",
            "ownerlookup": "jsonobject",
            "integer": "integer",
            "boolean": "boolean",
        }.get(self.data_type, "string")


def _f(api: str, kind: str = "text", label: str | None = None, **kw: Any) -> FieldDef:
    return FieldDef(api, kind, label or api.replace("_", " "), **kw)


_COMMON = (
    _f("Owner", "ownerlookup", "Contact Owner"),
    _f("Created_Time", "datetime", read_only=True),
    _f("Modified_Time", "datetime", read_only=True),
    _f("Created_By", "ownerlookup", read_only=True),
    _f("Modified_By", "ownerlookup", read_only=True),
    _f("Description", "textarea", length=32000),
)
_PHONES = tuple(_f(name, "phone", length=30) for name in PHONE_FIELDS)

FIELDS: dict[str, tuple[FieldDef, ...]] = {
    "Contacts": (
        _f("First_Name", length=40),
        _f("Last_Name", mandatory=True, length=80),
        _f("Full_Name", read_only=True),
        _f("Email", "email", length=100),
        _f("Secondary_Email", "email", length=100),
        *_PHONES,
        _f("Title", length=100),
        _f("Account_Name", "lookup", "Account Name", lookup_module="Accounts"),
        *_COMMON,
    ),
    "Leads": (
        _f("First_Name", length=40),
        _f("Last_Name", mandatory=True, length=80),
        _f("Full_Name", read_only=True),
        _f("Email", "email", length=100),
        *_PHONES,
        _f("Company", mandatory=True, length=200),
        _f("Designation", "text", "Title", length=100),
        *_COMMON,
    ),
    "Accounts": (
        _f("Account_Name", mandatory=True, length=200),
        _f("Phone", "phone", length=30),
        _f("Fax", "phone", length=30),
        _f("Website", "website", length=255),
        *_COMMON,
    ),
    "Calls": (
        _f("Subject", mandatory=True, length=255),
        _f("Call_Type", "picklist", mandatory=True, picklist=("Inbound", "Outbound", "Missed")),
        _f("Call_Start_Time", "datetime", mandatory=True),
        _f("Call_Duration", length=10),
        _f("Call_Duration_in_seconds", "integer", read_only=True),
        _f("Call_Purpose", "picklist", picklist=("-None-", "Prospecting", "Negotiation")),
        _f("Call_Result", length=255),
        _f("Who_Id", "lookup", "Contact Name", lookup_module="Contacts"),
        _f("What_Id", "lookup", "Related To"),
        _f("Voice_Recording__s", "website", "Voice Recording", length=2000),
        *_COMMON,
    ),
    "Notes": (
        _f("Note_Title", length=120),
        _f("Note_Content", "textarea", mandatory=True, length=32000),
        _f("Parent_Id", "lookup", "Parent Id"),
        *_COMMON,
    ),
}

MODULE_LABELS = {
    "Leads": ("Lead", "Leads"),
    "Contacts": ("Contact", "Contacts"),
    "Accounts": ("Account", "Accounts"),
    "Calls": ("Call", "Calls"),
    "Notes": ("Note", "Notes"),
}

# Fields `upsert` matches on when the body names none (Zoho's system-defined duplicate checks).
DEFAULT_DUPLICATE_CHECK = {
    "Leads": ("Email",),
    "Contacts": ("Email",),
    "Accounts": ("Account_Name",),
    "Calls": (),
}


def field_map(module: str) -> dict[str, FieldDef]:
    return {f.api_name: f for f in FIELDS[module]}


@dataclass
class Ids:
    """Stable 19-digit ids for metadata (modules, fields, layouts), derived from the org's."""

    base: int
    by_key: dict[str, str] = field(default_factory=dict)

    def of(self, key: str) -> str:
        if key not in self.by_key:
            self.by_key[key] = str(self.base + 1000 + len(self.by_key))
        return self.by_key[key]


def module_json(api_name: str, ids: Ids, modified: str) -> dict[str, Any]:
    singular, plural = MODULE_LABELS[api_name]
    return skeleton(
        "modules",
        "modules",
        api_name=api_name,
        module_name=plural,
        singular_label=singular,
        plural_label=plural,
        id=ids.of(f"module:{api_name}"),
        api_supported=True,
        creatable=True,
        editable=True,
        deletable=True,
        viewable=True,
        visible=True,
        show_as_tab=api_name != "Notes",
        generated_type="default",
        sequence_number=ALL_MODULES.index(api_name) + 1,
        modified_time=modified,
        **{"common.search_supported": api_name != "Notes"},
    )


def field_json(module: str, f: FieldDef, ids: Ids) -> dict[str, Any]:
    lookup: dict[str, Any] | None = None
    if f.lookup_module:
        lookup = skeleton(
            "fields",
            "lookup",
            module={"api_name": f.lookup_module, "id": ids.of(f"module:{f.lookup_module}")},
        )
    picklist = [
        skeleton(
            "fields",
            "pick_list_values",
            display_value=value,
            actual_value=value,
            id=ids.of(f"pick:{module}.{f.api_name}.{value}"),
            sequence_number=n + 1,
            type="used",
        )
        for n, value in enumerate(f.picklist)
    ]
    return skeleton(
        "fields",
        "fields",
        api_name=f.api_name,
        field_label=f.label,
        display_label=f.label,
        column_name=f.api_name.upper(),
        data_type=f.data_type,
        json_type=f.json_type,
        length=f.length,
        id=ids.of(f"field:{module}.{f.api_name}"),
        system_mandatory=f.mandatory,
        read_only=f.read_only,
        field_read_only=f.read_only,
        visible=True,
        custom_field=f.api_name.endswith("__s") is False and f.api_name.endswith("__c"),
        searchable=f.data_type in ("text", "email", "phone"),
        sortable=True,
        filterable=True,
        lookup=lookup,
        pick_list_values=picklist,
        operation_type={
            "web_update": not f.read_only,
            "api_create": not f.read_only,
            "web_create": not f.read_only,
            "api_update": not f.read_only,
        },
    )


def layout_json(module: str, ids: Ids) -> dict[str, Any]:
    fields = []
    for n, f in enumerate(FIELDS[module]):
        fields.append(
            skeleton(
                "layouts",
                "fields",
                **field_json(module, f, ids),
                required=f.mandatory,
                sequence_number=n + 1,
                section_id=int(ids.of(f"section:{module}")),
            )
        )
    section = skeleton(
        "layouts",
        "sections",
        display_label=f"{MODULE_LABELS[module][0]} Information",
        sequence_number=1,
        api_name=f"{MODULE_LABELS[module][0]} Information",
        name=f"{MODULE_LABELS[module][0]} Information",
        column_count=2,
        id=ids.of(f"section:{module}"),
        fields=fields,
    )
    return skeleton(
        "layouts",
        "layouts",
        id=ids.of(f"layout:{module}"),
        name="Standard",
        display_label="Standard",
        api_name="Standard",
        status="active",
        visible=True,
        source="crm",
        sections=[section],
    )

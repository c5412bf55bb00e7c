"""Sign-ins started from a terminal (`switchboard connect <crm> --oauth`)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 07:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_authorizations") as batch:
        batch.add_column(
            sa.Column("binding", sa.String(length=16), nullable=False, server_default="browser")
        )


def downgrade() -> None:
    with op.batch_alter_table("oauth_authorizations") as batch:
        batch.drop_column("binding")

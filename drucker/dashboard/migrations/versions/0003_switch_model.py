"""the model a switch was of, on services of several models ("": the default model)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("switches") as batch:
        batch.add_column(
            sa.Column("model", sa.String(length=255), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("switches") as batch:
        batch.drop_column("model")

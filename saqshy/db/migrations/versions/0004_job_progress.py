"""job progress: a long job's stage, fraction done and ETA, and a cancellation request"""

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('progress', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('cancel_requested_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('cancel_requested_at')
        batch_op.drop_column('progress')

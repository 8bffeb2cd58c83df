"""watching it: the request id a job was enqueued by; scores found by time

``jobs.request_id`` carries the id of the request that enqueued a job into the job's log lines.
``ix_scores_created_at`` lets the /metrics scoring rate count the last minute's scores without
reading the whole table.
"""

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.create_index('ix_scores_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.drop_index('ix_scores_created_at')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('request_id')

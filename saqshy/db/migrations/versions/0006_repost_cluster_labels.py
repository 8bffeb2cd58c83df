"""cluster labels: a decision labels every member of its near-duplicate cluster, and later reposts

``cluster_labels`` holds one row per item labelled by its cluster's decided task: the members
present at the decision, and reposts arriving after it (listed for moderators), each attached to
the task's case when it has one.
"""

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'


def upgrade() -> None:
    op.create_table(
        'cluster_labels',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('verdict', sa.Enum('illegal', 'legal', 'unsure', name='verdict', native_enum=False, length=32),
                  nullable=False),
        sa.Column('category', sa.String(length=64), nullable=True),
        sa.Column('is_repost', sa.Boolean(), nullable=False),
        sa.Column('status', sa.Enum('inherited', 'pending', 'acknowledged', 'reopened', name='clusterlabelstatus',
                                    native_enum=False, length=32), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('item_snapshot', sa.JSON(), nullable=False),
        sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
        sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reopened_task_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_cluster_labels_case_id_cases'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['item_id'], ['content_items.id'],
                                name=op.f('fk_cluster_labels_item_id_content_items'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['reopened_task_id'], ['review_tasks.id'],
                                name=op.f('fk_cluster_labels_reopened_task_id_review_tasks'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['reviewed_by_id'], ['users.id'], name=op.f('fk_cluster_labels_reviewed_by_id_users')),
        sa.ForeignKeyConstraint(['task_id'], ['review_tasks.id'], name=op.f('fk_cluster_labels_task_id_review_tasks'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cluster_labels')),
        sa.UniqueConstraint('item_id', name=op.f('uq_cluster_labels_item_id')),
    )
    with op.batch_alter_table('cluster_labels', schema=None) as batch_op:
        batch_op.create_index('ix_cluster_labels_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cluster_labels_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cluster_labels_task_id'), ['task_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cluster_labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cluster_labels_task_id'))
        batch_op.drop_index(batch_op.f('ix_cluster_labels_case_id'))
        batch_op.drop_index('ix_cluster_labels_status_created')
    op.drop_table('cluster_labels')

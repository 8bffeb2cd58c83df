"""score drift: a model version's scores found by time

``ix_scores_version_created`` serves drift's "the production version's scores of the last days"
(``triage_api.services.drift``) without reading the other versions' scores of the window.
"""

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'


def upgrade() -> None:
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.create_index('ix_scores_version_created', ['model_version', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.drop_index('ix_scores_version_created')

"""audit sequencing: entries are chained just after their transaction commits

Each entry gets ``seq`` (its position in the chain); ``prev_hash`` and ``hash`` are NULL until the
sequencer chains it. Entries already stored were chained in id order, so they get seq = their rank
by id, which keeps their hashes valid.
"""

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=True)
    # Both engines have window functions and UPDATE ... FROM (SQLite since 3.33).
    op.execute(
        "UPDATE audit_log SET seq = ranked.n FROM "
        "(SELECT id, row_number() OVER (ORDER BY id) AS n FROM audit_log) AS ranked "
        "WHERE audit_log.id = ranked.id"
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_audit_log_seq'), ['seq'])
        batch_op.create_index('ix_audit_log_unchained', ['id'], unique=False,
                              postgresql_where=sa.text('seq IS NULL'), sqlite_where=sa.text('seq IS NULL'))


def downgrade() -> None:
    # Entries not chained yet cannot be represented by the old schema (hash was NOT NULL).
    op.execute("DELETE FROM audit_log WHERE seq IS NULL")
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_unchained', postgresql_where=sa.text('seq IS NULL'),
                            sqlite_where=sa.text('seq IS NULL'))
        batch_op.drop_constraint(batch_op.f('uq_audit_log_seq'), type_='unique')
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column('seq')

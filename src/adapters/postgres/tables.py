"""The schema as SQLAlchemy Core tables. Alembic migrations are the only way it is created;
a test checks that autogenerate finds no difference between the two."""

from __future__ import annotations

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> sa.Column[object]:
    return sa.Column("id", UUID(as_uuid=True), primary_key=True)


def _tenant() -> sa.Column[object]:
    return sa.Column(
        "tenant_id",
        UUID(as_uuid=True),
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=False,
    )


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


tenants = sa.Table(
    "tenants",
    metadata,
    _id(),
    sa.Column("slug", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("waba_id", sa.Text, index=True),
    sa.Column("phone_number_id", sa.Text, unique=True),
    sa.Column("display_phone_number", sa.Text),
    sa.Column("throughput_per_second", sa.Integer, nullable=False, server_default="80"),
    # Sealed by a SecretBox (AES-256-GCM, bound to tenant + field): never plaintext.
    sa.Column("access_token_sealed", sa.Text),
    sa.Column("app_secret_sealed", sa.Text),
    sa.Column("verify_token_digest", sa.Text, unique=True),  # SHA-256 hex: never in clear
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

contacts = sa.Table(
    "contacts",
    metadata,
    _id(),
    _tenant(),
    sa.Column("bsuid", sa.Text),
    sa.Column("wa_id", sa.Text),
    sa.Column("parent_bsuid", sa.Text),
    sa.Column("username", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("attributes", JSONB, nullable=False, server_default="{}"),
    sa.Column("opted_in", sa.Boolean, nullable=False, server_default=sa.true()),
    _at("created_at"),
    _at("updated_at"),
    sa.Index(
        "uq_contacts_tenant_bsuid",
        "tenant_id",
        "bsuid",
        unique=True,
        postgresql_where=sa.text("bsuid IS NOT NULL"),
    ),
    sa.Index(
        "uq_contacts_tenant_wa_id",
        "tenant_id",
        "wa_id",
        unique=True,
        postgresql_where=sa.text("wa_id IS NOT NULL"),
    ),
    # Under RLS the search's LIKEs cannot use an index (not LEAKPROOF): this one keeps it to
    # the tenant's own rows (migration 0019).
    sa.Index("ix_contacts_tenant", "tenant_id"),
)
# The contact search's arms, ``lower(column) LIKE '%...%'``: trigram indexes on exactly those
# expressions (migration 0019).
for _column in ("name", "username", "wa_id", "bsuid"):
    sa.Index(
        f"ix_contacts_{_column}_search",
        sa.func.lower(contacts.c[_column]).label(_column),
        postgresql_using="gin",
        postgresql_ops={_column: "gin_trgm_ops"},
    )

conversations = sa.Table(
    "conversations",
    metadata,
    _id(),
    _tenant(),
    sa.Column(
        "contact_id",
        UUID(as_uuid=True),
        sa.ForeignKey("contacts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("assignee_id", UUID(as_uuid=True)),
    sa.Column("labels", ARRAY(sa.Text), nullable=False, server_default="{}"),
    _at("last_inbound_at", nullable=True),
    _at("last_message_at"),
    sa.Column("unread_count", sa.Integer, nullable=False, server_default="0"),
    _at("created_at"),
    sa.UniqueConstraint("tenant_id", "contact_id", name="uq_conversations_tenant_contact"),
    sa.Index(
        "ix_conversations_inbox",
        "tenant_id",
        "status",
        sa.text("last_message_at DESC"),
    ),
    sa.Index(
        "ix_conversations_assignee",
        "tenant_id",
        "assignee_id",
        sa.text("last_message_at DESC"),
    ),
    sa.Index("ix_conversations_labels", "labels", postgresql_using="gin"),  # labels @> ARRAY[…]
)

messages = sa.Table(
    "messages",
    metadata,
    _id(),
    _tenant(),
    sa.Column(
        "conversation_id",
        UUID(as_uuid=True),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("contact_id", UUID(as_uuid=True), nullable=False),
    sa.Column("direction", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("text", sa.Text),
    sa.Column("content", JSONB, nullable=False, server_default="{}"),
    sa.Column("wamid", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("error_code", sa.Integer),
    sa.Column("error_text", sa.Text),
    _at("created_at"),
    _at("status_at", nullable=True),
    sa.Column("reply_to_wamid", sa.Text),
    sa.Column("author_id", UUID(as_uuid=True)),
    sa.Column("template_name", sa.Text),
    sa.Column("template_language", sa.Text),
    sa.Column("intent", sa.Text),
    sa.Column("intent_confidence", sa.Float),
    sa.Index(
        "uq_messages_tenant_wamid",
        "tenant_id",
        "wamid",
        unique=True,
        postgresql_where=sa.text("wamid IS NOT NULL"),
    ),
    sa.Index("ix_messages_thread", "tenant_id", "conversation_id", sa.text("created_at DESC")),
    sa.Index("ix_messages_tenant_created", "tenant_id", "created_at"),  # the dashboard's period
)

pending_statuses = sa.Table(
    "pending_statuses",
    metadata,
    sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
    _tenant(),
    sa.Column("wamid", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    _at("at"),
    sa.Column("error_code", sa.Integer),
    sa.Column("error_text", sa.Text),
    sa.Column("message_id", UUID(as_uuid=True)),  # named by our send's biz_opaque_callback_data
    sa.Index("ix_pending_statuses_wamid", "tenant_id", "wamid"),
    sa.Index(
        "ix_pending_statuses_message",
        "tenant_id",
        "message_id",
        postgresql_where=sa.text("message_id IS NOT NULL"),
    ),
)

templates = sa.Table(
    "templates",
    metadata,
    _id(),
    _tenant(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("language", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("components", JSONB, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("meta_id", sa.Text),
    sa.Column("rejection_reason", sa.Text),
    sa.Column("sent", sa.Integer, nullable=False, server_default="0"),
    sa.Column("delivered", sa.Integer, nullable=False, server_default="0"),
    sa.Column("read", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
    _at("created_at"),
    _at("updated_at"),
    sa.UniqueConstraint("tenant_id", "name", "language", name="uq_templates_tenant_name_lang"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    _id(),
    _tenant(),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    _at("created_at"),
    sa.Column("correlation_id", sa.Text),
    _at("dispatched_at", nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    # Delivery state (migration 0004); see whatsapp_core.jobs for the state machine.
    sa.Column("state", sa.Text, nullable=False, server_default="pending"),
    _at("available_at", nullable=True),  # NULL: due since created_at
    _at("locked_until", nullable=True),
    _at("finished_at", nullable=True),
    sa.Column("last_error", sa.Text),
    sa.Column("outcome", sa.Text),
    sa.CheckConstraint("state IN ('pending', 'running', 'done', 'dead')", name="state"),
    sa.Index(
        "ix_outbox_due",
        sa.text("coalesce(available_at, created_at)"),
        postgresql_where=sa.text("state IN ('pending', 'running')"),
    ),
    sa.Index("ix_outbox_state", "state", sa.text("created_at DESC")),
    # A tenant's open jobs for the job monitor (migration 0013).
    sa.Index(
        "ix_outbox_tenant_open",
        "tenant_id",
        sa.text("created_at DESC"),
        postgresql_where=sa.text("state <> 'done'"),
    ),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    _id(),
    _tenant(),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("entity_type", sa.Text, nullable=False),
    sa.Column("entity_id", sa.Text, nullable=False),
    _at("at"),
    sa.Column("before", JSONB),
    sa.Column("after", JSONB),
    sa.Column("correlation_id", sa.Text),
    sa.Index("ix_audit_log_tenant_at", "tenant_id", sa.text("at DESC")),
)

# Under row-level security like every tenant table (migration 0019). Sign-in finds a user
# by e-mail and an API key by its prefix before any tenant is known: through SECURITY
# DEFINER functions that return only the row with that key.
users = sa.Table(
    "users",
    metadata,
    _id(),
    _tenant(),
    sa.Column("email", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    _at("created_at"),
    sa.Index("ix_users_tenant", "tenant_id"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    _id(),
    _tenant(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("prefix", sa.Text, nullable=False, unique=True),
    sa.Column("secret_hash", sa.Text, nullable=False),
    sa.Column("scopes", ARRAY(sa.Text), nullable=False),
    _at("created_at"),
    _at("revoked_at", nullable=True),
    _at("last_used_at", nullable=True),
    sa.Index("ix_api_keys_tenant", "tenant_id"),
)

notes = sa.Table(
    "notes",
    metadata,
    _id(),
    _tenant(),
    sa.Column(
        "conversation_id",
        UUID(as_uuid=True),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("author_id", UUID(as_uuid=True)),
    sa.Column("body", sa.Text, nullable=False),
    _at("created_at"),
    sa.Index("ix_notes_conversation", "tenant_id", "conversation_id", "created_at"),
)

# AI (migrations 0006, 0018). The vector columns and their HNSW indexes exist only where
# the server has a usable pgvector (elsewhere the columns are real[], searched exactly:
# adapters.postgres.vector_support); VECTOR_COLUMNS names them so that the schema
# comparison (tests/contract/test_migrations.py) and the stores (adapters.postgres.ai)
# treat a server without pgvector as a known, deliberate difference.
EMBEDDING_DIMENSIONS = 384
VECTOR_COLUMNS = frozenset(
    {("message_embeddings", "embedding"), ("knowledge_snippets", "embedding")}
)

message_embeddings = sa.Table(
    "message_embeddings",
    metadata,
    sa.Column(
        "message_id",
        UUID(as_uuid=True),
        sa.ForeignKey("messages.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    _tenant(),
    sa.Column("embedding", Vector(EMBEDDING_DIMENSIONS), nullable=False),
    sa.Index("ix_message_embeddings_tenant", "tenant_id"),
    sa.Index(
        "ix_message_embeddings_hnsw",
        "embedding",
        postgresql_using="hnsw",
        postgresql_ops={"embedding": "vector_cosine_ops"},
    ),
)

knowledge_snippets = sa.Table(
    "knowledge_snippets",
    metadata,
    _id(),
    _tenant(),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("embedding", Vector(EMBEDDING_DIMENSIONS)),
    _at("created_at"),
    sa.Index("ix_knowledge_snippets_tenant", "tenant_id", "created_at"),
    sa.Index(
        "ix_knowledge_snippets_hnsw",
        "embedding",
        postgresql_using="hnsw",
        postgresql_ops={"embedding": "vector_cosine_ops"},
    ),
)

ai_usage = sa.Table(
    "ai_usage",
    metadata,
    sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
    _tenant(),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("operation", sa.Text, nullable=False),
    sa.Column("input_tokens", sa.Integer, nullable=False),
    sa.Column("output_tokens", sa.Integer, nullable=False),
    _at("at"),
    sa.Index("ix_ai_usage_tenant_at", "tenant_id", "at"),
)

# AI settings and the auto-reply log (migration 0014), under row-level security.
ai_settings = sa.Table(
    "ai_settings",
    metadata,
    sa.Column(
        "tenant_id",
        UUID(as_uuid=True),
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("provider_order", ARRAY(sa.Text), nullable=False),
    sa.Column("models", JSONB, nullable=False),
    sa.Column("intents", ARRAY(sa.Text), nullable=False),
    sa.Column("auto_suggest", sa.Boolean, nullable=False),
    sa.Column("auto_reply", JSONB, nullable=False),
    sa.Column("monthly_token_budget", sa.BigInteger),
    _at("updated_at"),
)

ai_auto_replies = sa.Table(
    "ai_auto_replies",
    metadata,
    _tenant(),
    sa.Column(
        "conversation_id",
        UUID(as_uuid=True),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("message_id", UUID(as_uuid=True), nullable=False),
    _at("sent_at"),
    sa.PrimaryKeyConstraint("tenant_id", "conversation_id", name="pk_ai_auto_replies"),
)

# Automation (migration 0007): webhook subscriptions, their delivery log, and the
# idempotency keys of API sends and event fan-outs. All under row-level security.
webhook_subscriptions = sa.Table(
    "webhook_subscriptions",
    metadata,
    _id(),
    _tenant(),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", ARRAY(sa.Text), nullable=False),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("allow_private", sa.Boolean, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("consecutive_failures", sa.Integer, nullable=False),
    sa.Column("disabled_reason", sa.Text),
    _at("created_at"),
    _at("updated_at"),
    sa.Index("ix_webhook_subscriptions_tenant", "tenant_id", "created_at"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    _id(),
    _tenant(),
    sa.Column(
        "subscription_id",
        UUID(as_uuid=True),
        sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("manual", sa.Boolean, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("latency_ms", sa.Float),
    sa.Column("response_excerpt", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("body", sa.Text, nullable=False),
    _at("at"),
    sa.Index(
        "ix_webhook_deliveries_subscription", "tenant_id", "subscription_id", sa.text("at DESC")
    ),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    _tenant(),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("result_id", UUID(as_uuid=True)),
    _at("created_at"),
    sa.PrimaryKeyConstraint("tenant_id", "key", name="pk_idempotency_keys"),
)

# Refresh happens before a tenant is known: the lookup by hash is a SECURITY DEFINER
# function (migration 0019); everything else runs under row-level security.
refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    _id(),
    _tenant(),
    sa.Column(
        "user_id", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("family_id", UUID(as_uuid=True), nullable=False),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    _at("created_at"),
    _at("expires_at"),
    _at("used_at", nullable=True),
    _at("revoked_at", nullable=True),
    sa.Index("ix_refresh_tokens_family", "family_id"),
)


# Accepting an invitation happens before a tenant is known: the lookup by hash is a
# SECURITY DEFINER function (migration 0019); the rest runs under row-level security.
invitations = sa.Table(
    "invitations",
    metadata,
    _id(),
    _tenant(),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("invited_by", UUID(as_uuid=True)),
    _at("created_at"),
    _at("expires_at"),
    _at("accepted_at", nullable=True),
    _at("revoked_at", nullable=True),
    sa.Index("ix_invitations_tenant", "tenant_id", "created_at"),
)


# Files messages carry (migration 0012): the blob's key and digest, and Meta's media id
# once an outbound file was uploaded for sending. Under row-level security.
media_objects = sa.Table(
    "media_objects",
    metadata,
    _id(),
    _tenant(),
    sa.Column("direction", sa.Text, nullable=False),
    sa.Column("mime_type", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("blob_key", sa.Text, nullable=False),
    sa.Column("filename", sa.Text),
    sa.Column("meta_media_id", sa.Text),
    _at("created_at"),
    sa.CheckConstraint("direction IN ('inbound', 'outbound')", name="direction"),
    sa.Index("ix_media_objects_tenant", "tenant_id", "created_at"),
)

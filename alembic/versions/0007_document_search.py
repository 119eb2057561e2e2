"""Documents: full-text search over Latin and CJK text in core PostgreSQL, and the indexes of the lists.

Search (`GET /api/documents?search=`) is full-text, not a substring scan. PostgreSQL's `simple` configuration
splits Latin text into lower-cased words, but it takes a run of Chinese characters (no spaces between words)
as one word, so `管理` would never match `今天我们讨论项目管理的进度`. Without extensions (no zhparser, no
pg_trgm in core), two immutable functions do the segmentation the usual way for CJK, as overlapping n-grams:

- `halolight_search_words(value, unigrams)`: the text with every run of CJK characters replaced by its
  2-character n-grams (`项目管理` → `项目 目管 管理`), and, with `unigrams`, each single character too (so a
  one-character query finds its documents). Latin words are left for the `simple` parser.
- `halolight_document_search(title, content)`: the document's tsvector, the title weighted A, the content B
  (ranked by `ts_rank`, a title hit first). The content counts up to its first 32,768 characters: a
  tsvector holds at most 1 MB, which a long text of distinct n-grams would exceed (the insert would fail).
- `halolight_search_query(term)`: the tsquery of a search term, the AND of its words and n-grams (no
  unigrams when a run has two characters or more: the n-grams say more and match fewer rows).

A GIN index on `halolight_document_search(title, content)` answers `@@` queries. Ranking needs each match's
vector, which the index does not hold: computing it again costs about a millisecond per match (seconds for
a common word), so `halolight_document_vectors` keeps it, written by a trigger on `documents` (title or
content changed), whichever backend writes. The functions, the table and the trigger are ours and harmless
to the NestJS/Java backends: their writes keep the index and the vectors current like ours.

Lists: `halolight_documents_owner_updated` serves the owner's documents newest first, and
`halolight_documents_id_covering` the shared ones (by id, without reading their rows); the shares are looked
up by team (`teamId` has no index in the shared schema), document tags by tag (the tag filter), and tags by
`lower(name)` (tags are resolved without regard to case; a unique index on it would refuse a shared
database that already holds `A` and `a`, so it is a plain one and the uniqueness is kept by a lock).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Han (with extension A and the compatibility block), kana and Hangul syllables: scripts written without
# spaces between words (Hangul is, but its n-grams do no harm), and the supplementary Han planes.
CJK = (
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    r"\U00020000-\U0002ffff]+"
)
# The content indexed: the first characters only (see the module docstring).
CONTENT_INDEXED = 32768

FUNCTIONS = [
    # COST: about a millisecond for a document of 2 KB. Told so, the planner finds matches through the GIN
    # index instead of computing the vector of every document the caller can see (measured: 7 s for 7,000).
    # Each run of CJK characters as rows (string_to_array(run, NULL): one per character), with the next one
    # (lead) for the n-gram: linear in the text's length (substr() in a loop would be quadratic, as it walks
    # a multibyte string from its start).
    f"""
    CREATE OR REPLACE FUNCTION halolight_search_words(value text, unigrams boolean)
    RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 10000
    AS $$
      SELECT regexp_replace(value, '{CJK}', ' ', 'g') || ' ' || coalesce((
        SELECT string_agg(
          concat_ws(' ', CASE WHEN unigrams OR (previous IS NULL AND following IS NULL) THEN ch END,
                    ch || following),
          ' ')
        FROM (
          SELECT ch, lag(ch) OVER run AS previous, lead(ch) OVER run AS following
          FROM regexp_matches(value, '{CJK}', 'g') WITH ORDINALITY AS m(parts, r),
               unnest(string_to_array(parts[1], NULL)) WITH ORDINALITY AS c(ch, n)
          WINDOW run AS (PARTITION BY r ORDER BY n)
        ) AS characters
      ), '')
    $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION halolight_document_search(title text, content text)
    RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
      SELECT setweight(to_tsvector('simple'::regconfig,
                                   halolight_search_words(coalesce(title, ''), true)), 'A')
          || setweight(to_tsvector('simple'::regconfig,
                                   halolight_search_words(left(coalesce(content, ''), {CONTENT_INDEXED}), true)),
                       'B')
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION halolight_search_query(term text)
    RETURNS tsquery LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT plainto_tsquery('simple'::regconfig, halolight_search_words(term, false)) $$
    """,
]

INDEXES = [
    "CREATE INDEX IF NOT EXISTS halolight_documents_search ON documents USING gin "
    "(halolight_document_search(title, content))",
    "CREATE INDEX IF NOT EXISTS halolight_documents_owner_updated "
    'ON documents ("ownerId", "updatedAt" DESC, id DESC)',
    # The shared documents of a list are read by id from the caller's shares, for their order and owner only:
    # from this index alone, not from rows of 2 KB scattered over the table (measured: 16 ms for 2,000).
    "CREATE INDEX IF NOT EXISTS halolight_documents_id_covering "
    'ON documents (id) INCLUDE ("updatedAt", "ownerId", folder)',
    'CREATE INDEX IF NOT EXISTS halolight_document_shares_team_id ON document_shares ("teamId")',
    'CREATE INDEX IF NOT EXISTS halolight_document_tags_tag_id ON document_tags ("tagId")',
    "CREATE INDEX IF NOT EXISTS halolight_tags_name_lower ON tags (lower(name))",
]


# The vectors for ranking, kept by a row trigger in the writer's transaction (any backend's writes), filled
# for the rows already there under a SHARE lock taken first: no write falls between the fill and the trigger.
VECTORS = [
    """
    CREATE TABLE halolight_document_vectors (
        "documentId" text NOT NULL,
        search tsvector NOT NULL,
        CONSTRAINT halolight_document_vectors_pkey PRIMARY KEY ("documentId"),
        CONSTRAINT "halolight_document_vectors_documentId_fkey" FOREIGN KEY ("documentId")
            REFERENCES documents (id) ON UPDATE CASCADE ON DELETE CASCADE
    )
    """,
    """
    CREATE FUNCTION halolight_keep_document_vector() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO halolight_document_vectors ("documentId", search)
        VALUES (NEW.id, halolight_document_search(NEW.title, NEW.content))
        ON CONFLICT ("documentId") DO UPDATE SET search = EXCLUDED.search;
        RETURN NULL;
    END $$
    """,
    "LOCK TABLE documents IN SHARE MODE",
    """
    INSERT INTO halolight_document_vectors ("documentId", search)
    SELECT id, halolight_document_search(title, content) FROM documents
    """,
    """
    CREATE TRIGGER halolight_keep_document_vector AFTER INSERT OR UPDATE OF title, content ON documents
    FOR EACH ROW EXECUTE FUNCTION halolight_keep_document_vector()
    """,
]


def upgrade() -> None:
    for statement in FUNCTIONS + INDEXES + VECTORS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS halolight_keep_document_vector ON documents")
    op.execute("DROP FUNCTION IF EXISTS halolight_keep_document_vector()")
    op.execute("DROP TABLE IF EXISTS halolight_document_vectors")
    for statement in reversed(INDEXES):
        name = statement.split("EXISTS ", 1)[1].split(" ", 1)[0]
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("DROP FUNCTION IF EXISTS halolight_search_query(text)")
    op.execute("DROP FUNCTION IF EXISTS halolight_document_search(text, text)")
    op.execute("DROP FUNCTION IF EXISTS halolight_search_words(text, boolean)")

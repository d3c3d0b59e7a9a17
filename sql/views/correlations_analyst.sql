-- gold.correlations_analyst: what analysts see of gold.correlations (analysts have no SELECT on the table).
-- Masking: editor user names become a stable pseudonym (editor-<first 16 hex of sha256>), so analysts can still
--   count edits per editor without learning who they are; IP addresses (logged-out editors) become NULL.
-- Row filter: rows whose editor is anonymous (an IP address) are hidden, because the IP is personal data and the
--   edit's comment and title can re-identify it; members of the compliance group see every row unmasked.
-- provisional: true while the row's 4-hour window is still open (a later update can change or drop it).
-- Placeholders: ${correlations} (quoted catalog.schema.table), ${compliance_group} (quoted string literal).
SELECT
  window_start,
  window_end,
  event_id,
  event_time,
  event_code,
  event_description,
  event_text,
  source_url,
  edit_id,
  edit_time,
  wiki,
  edit_title,
  edit_comment,
  CASE
    WHEN is_account_group_member(${compliance_group}) THEN editor
    WHEN editor_is_anonymous THEN CAST(NULL AS STRING)
    ELSE concat('editor-', substr(sha2(editor, 256), 1, 16))
  END AS editor,
  editor_is_anonymous,
  score,
  rank,
  provisional
FROM ${correlations}
WHERE NOT editor_is_anonymous OR is_account_group_member(${compliance_group})

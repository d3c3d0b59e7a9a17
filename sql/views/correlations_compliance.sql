-- gold.correlations_compliance: the unmasked rows for the compliance group (right-to-erasure and audit requests).
-- Defence in depth: even if someone else were granted SELECT on this view, the filter returns no rows unless the
--   reader is a member of the compliance group.
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
  editor,
  editor_is_anonymous,
  score,
  rank,
  provisional
FROM ${correlations}
WHERE is_account_group_member(${compliance_group})

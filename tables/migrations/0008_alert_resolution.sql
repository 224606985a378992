-- Why a RESOLVED alert resolved (alert schema v4): cleared, subject_gone, rule_retired or
-- installation_inactive; '' for the other states and for rows written before.

ALTER TABLE alerts ADD COLUMN resolution String AFTER acknowledged_by;

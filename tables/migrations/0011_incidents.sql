-- Related findings on one installation are one incident (alert schema v5): alerts of rules of one
-- correlation group (`group` in the rule library) carry the incident's id, the alert_id of its
-- first open alert; a rule of no group is an incident of its own. '' in rows written before.
-- The notifier's ledger keeps it too: the first mails of one incident that settle together go out
-- as one mail per contact.

ALTER TABLE alerts ADD COLUMN incident_id String AFTER resolution;
ALTER TABLE notifications ADD COLUMN incident_id String AFTER alert_id;

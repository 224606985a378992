-- Safe rule changes (alert schema v6): every alert row names the rule library version it was
-- judged under, so a staged rollout or a shadow rule can be told apart from the library before
-- it; 0 in rows written before. Shadow rules' alerts carry suppressed_by = 'shadow'.

ALTER TABLE alerts ADD COLUMN library_version UInt32 AFTER incident_id;

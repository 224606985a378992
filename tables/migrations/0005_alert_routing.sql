-- Alerts carry their routing (alert schema v2): the customer's contract tier when raised, whether
-- the customer is notified (Proactive Support) or only support engineers see it, the rule's
-- explanation and the link to the server's dashboard. Re-runnable like 0004.

ALTER TABLE alerts ADD COLUMN contract_tier LowCardinality(String) AFTER customer_id;
ALTER TABLE alerts ADD COLUMN notify_customer UInt8 AFTER contract_tier;
ALTER TABLE alerts ADD COLUMN explanation String AFTER summary;
ALTER TABLE alerts ADD COLUMN dashboard_url String AFTER explanation;

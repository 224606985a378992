-- Who asked for a purge and why (the switch-off's `by` and `reason`, or how it came about): the
-- audit of erasures, beside their completion.

ALTER TABLE purges ADD COLUMN reason String;

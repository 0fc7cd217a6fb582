-- When billing last declined renewing this lease in its current term. The
-- sweeper asks billing about a lease in its renewal window at most once a
-- day after a decline (the tenant may settle the account before term end),
-- instead of at every sweep; a renewal clears it.
ALTER TABLE numbering.leases ADD COLUMN renewal_declined_at timestamptz;

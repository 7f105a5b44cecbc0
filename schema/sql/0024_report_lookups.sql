-- Reports look up the request that made each grant they list, and its
-- approvals, a page of grants at a time.
CREATE INDEX requests_grant ON requests (grant_id);

-- An item's reviewers are replaced by (campaign, item) when it is updated.
CREATE INDEX campaign_reviewers_item ON campaign_reviewers (campaign_id, seq);

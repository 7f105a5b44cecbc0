-- The risk score policy saw when the request was made (NULL: no risk source
-- configured), for the people who decide it.
ALTER TABLE requests ADD COLUMN risk REAL;

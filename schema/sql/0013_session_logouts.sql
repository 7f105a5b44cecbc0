-- Browser sessions are sealed cookies; signing out records the moment, and
-- every session of that person issued before it stops working.
CREATE TABLE session_logouts (
    login TEXT PRIMARY KEY,
    at    INTEGER NOT NULL
);

//! Embedded, ordered schema migrations. Each runs in its own transaction and bumps
//! `PRAGMA user_version`, so a crash between two leaves a consistent, resumable schema.

use rusqlite::{Connection, OptionalExtension};

use super::StoreError;

/// Index `i` holds the SQL that takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: accounts, refresh-token families and alerts.
    "
    CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
        email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        created_at    INTEGER NOT NULL
    );
    CREATE TABLE refresh_tokens (
        jti         TEXT PRIMARY KEY,
        family      TEXT NOT NULL,
        user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        used_at     INTEGER,
        revoked_at  INTEGER
    );
    CREATE INDEX refresh_tokens_family ON refresh_tokens(family);
    CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
    CREATE TABLE alerts (
        id              INTEGER PRIMARY KEY,
        user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        symbol          TEXT NOT NULL,
        target_price    TEXT NOT NULL,
        condition       TEXT NOT NULL CHECK (condition IN ('above', 'below', 'cross')),
        status          TEXT NOT NULL DEFAULT 'created'
                        CHECK (status IN ('created', 'triggered', 'deleted')),
        created_at      INTEGER NOT NULL,
        triggered_at    INTEGER,
        triggered_price TEXT,
        deleted_at      INTEGER
    );
    CREATE INDEX alerts_by_user ON alerts(user_id, status, id);
    CREATE INDEX alerts_armed ON alerts(symbol) WHERE status = 'created';
    ",
    // 2: the notification outbox (one row per fired alert) and trade-stream cursors.
    "
    CREATE TABLE notifications (
        id              INTEGER PRIMARY KEY,
        alert_id        INTEGER NOT NULL UNIQUE REFERENCES alerts(id) ON DELETE CASCADE,
        user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        status          TEXT NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'sent', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error      TEXT,
        sent_at         INTEGER,
        created_at      INTEGER NOT NULL
    );
    CREATE INDEX notifications_pending ON notifications(next_attempt_at) WHERE status = 'pending';
    CREATE TABLE market_cursors (
        symbol      TEXT PRIMARY KEY,
        last_agg_id INTEGER NOT NULL,
        trade_time  INTEGER NOT NULL
    );
    ",
    // 3: each user's count of alerts that are not deleted, kept by the database itself, so the
    // per-user cap is one row read instead of a count that grows with the user's alerts.
    "
    ALTER TABLE users ADD COLUMN live_alerts INTEGER NOT NULL DEFAULT 0;
    UPDATE users SET live_alerts =
        (SELECT COUNT(*) FROM alerts WHERE alerts.user_id = users.id AND status != 'deleted');
    CREATE TRIGGER alerts_count_insert AFTER INSERT ON alerts WHEN NEW.status != 'deleted'
    BEGIN
        UPDATE users SET live_alerts = live_alerts + 1 WHERE id = NEW.user_id;
    END;
    CREATE TRIGGER alerts_count_delete AFTER UPDATE OF status ON alerts
        WHEN OLD.status != 'deleted' AND NEW.status = 'deleted'
    BEGIN
        UPDATE users SET live_alerts = live_alerts - 1 WHERE id = NEW.user_id;
    END;
    ",
    // 4: identities are never reused. Without AUTOINCREMENT SQLite hands the highest id out
    // again once its row is gone, and a deleted account's tokens would speak for the next
    // account. Users and alerts are rebuilt with AUTOINCREMENT (the copied rows set the
    // sequence past every id in use). Each user gains a token generation that every token
    // carries: bumping it ends all of that user's sessions at once. A refresh token remembers
    // what replaced it, so the same token presented again moments later gets the same pair.
    "
    DROP TRIGGER alerts_count_insert;
    DROP TRIGGER alerts_count_delete;
    CREATE TABLE users_v4 (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        username         TEXT NOT NULL UNIQUE COLLATE NOCASE,
        email            TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash    TEXT NOT NULL,
        created_at       INTEGER NOT NULL,
        live_alerts      INTEGER NOT NULL DEFAULT 0,
        token_generation INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO users_v4 (id, username, email, password_hash, created_at, live_alerts)
        SELECT id, username, email, password_hash, created_at, live_alerts FROM users;
    DROP TABLE users;
    ALTER TABLE users_v4 RENAME TO users;
    CREATE TABLE alerts_v4 (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        symbol          TEXT NOT NULL,
        target_price    TEXT NOT NULL,
        condition       TEXT NOT NULL CHECK (condition IN ('above', 'below', 'cross')),
        status          TEXT NOT NULL DEFAULT 'created'
                        CHECK (status IN ('created', 'triggered', 'deleted')),
        created_at      INTEGER NOT NULL,
        triggered_at    INTEGER,
        triggered_price TEXT,
        deleted_at      INTEGER
    );
    INSERT INTO alerts_v4 SELECT id, user_id, symbol, target_price, condition, status,
        created_at, triggered_at, triggered_price, deleted_at FROM alerts;
    DROP TABLE alerts;
    ALTER TABLE alerts_v4 RENAME TO alerts;
    CREATE INDEX alerts_by_user ON alerts(user_id, status, id);
    CREATE INDEX alerts_armed ON alerts(symbol) WHERE status = 'created';
    CREATE TRIGGER alerts_count_insert AFTER INSERT ON alerts WHEN NEW.status != 'deleted'
    BEGIN
        UPDATE users SET live_alerts = live_alerts + 1 WHERE id = NEW.user_id;
    END;
    CREATE TRIGGER alerts_count_delete AFTER UPDATE OF status ON alerts
        WHEN OLD.status != 'deleted' AND NEW.status = 'deleted'
    BEGIN
        UPDATE users SET live_alerts = live_alerts - 1 WHERE id = NEW.user_id;
    END;
    ALTER TABLE refresh_tokens ADD COLUMN replaced_by TEXT;
    ",
    // 5: notification channels. Each user owns channels (an email channel for their address to
    // start with, so nothing changes for anyone who adds none); each alert notifies a set of
    // them, kept on its row as a JSON array of ids (a separate link table cost every create an
    // extra b-tree write: 17-28 % of its throughput). A fire is a row of its own, and the outbox becomes one delivery per fire and channel,
    // each with a stable key that every retry carries. The one-row-per-alert `notifications`
    // become deliveries through the owner's email channel.
    "
    CREATE TABLE channels (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        kind        TEXT NOT NULL
                    CHECK (kind IN ('email', 'webhook', 'ntfy', 'telegram', 'discord', 'gotify')),
        name        TEXT NOT NULL,
        enabled     INTEGER NOT NULL DEFAULT 1,
        settings    TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        deleted_at  INTEGER
    );
    CREATE INDEX channels_by_user ON channels(user_id, id) WHERE deleted_at IS NULL;
    INSERT INTO channels (user_id, kind, name, settings, created_at)
        SELECT id, 'email', 'Email', json_object('kind', 'email', 'address', email), created_at
        FROM users;
    ALTER TABLE alerts ADD COLUMN channels TEXT NOT NULL DEFAULT '[]';
    UPDATE alerts SET channels = (
        SELECT json_group_array(c.id) FROM channels c WHERE c.user_id = alerts.user_id);
    CREATE TABLE fires (
        id          INTEGER PRIMARY KEY,
        alert_id    INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        price       TEXT NOT NULL,
        fired_at    INTEGER NOT NULL,
        created_at  INTEGER NOT NULL
    );
    CREATE INDEX fires_by_alert ON fires(alert_id, id);
    INSERT INTO fires (alert_id, price, fired_at, created_at)
        SELECT id, triggered_price, triggered_at, triggered_at FROM alerts
        WHERE triggered_at IS NOT NULL AND triggered_price IS NOT NULL;
    CREATE TABLE deliveries (
        id              INTEGER PRIMARY KEY,
        fire_id         INTEGER NOT NULL REFERENCES fires(id) ON DELETE CASCADE,
        alert_id        INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        channel_id      INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
        user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        kind            TEXT NOT NULL,
        delivery_key    TEXT NOT NULL UNIQUE,
        status          TEXT NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'sent', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error      TEXT,
        sent_at         INTEGER,
        created_at      INTEGER NOT NULL,
        UNIQUE (fire_id, channel_id)
    );
    CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status = 'pending';
    CREATE INDEX deliveries_by_alert ON deliveries(alert_id, fire_id);
    CREATE INDEX deliveries_by_channel ON deliveries(channel_id, next_attempt_at)
        WHERE status = 'pending';
    INSERT INTO deliveries (fire_id, alert_id, channel_id, user_id, kind, delivery_key, status,
                            attempts, next_attempt_at, last_error, sent_at, created_at)
        SELECT f.id, n.alert_id, c.id, n.user_id, 'email', lower(hex(randomblob(16))), n.status,
               n.attempts, n.next_attempt_at, n.last_error, n.sent_at, n.created_at
        FROM notifications n
        JOIN fires f ON f.alert_id = n.alert_id
        JOIN channels c ON c.user_id = n.user_id AND c.kind = 'email';
    DROP TABLE notifications;
    ",
    // 5 → 6: a note of the owner's, shown with the alert and in every notification.
    "
    ALTER TABLE alerts ADD COLUMN note TEXT;
    ",
    // 6 → 7: when an alert was last armed (created, edited or re-armed); trades before it
    // never fire it, and a fire of an older definition is recognised by it.
    "
    ALTER TABLE alerts ADD COLUMN armed_at INTEGER NOT NULL DEFAULT 0;
    UPDATE alerts SET armed_at = created_at;
    ",
    // 7 → 8: repeating alerts: the re-arm distance (`250` or `0.5%`) and cooldown, and each
    // alert's count of fires and re-arm progress (a fired repeating alert waits for a trade past
    // its distance, then for `cooldown_until`), with the trade behind its latest change: a trade
    // replayed after a restart that is not past it changes nothing.
    "
    ALTER TABLE alerts ADD COLUMN repeat_rearm TEXT;
    ALTER TABLE alerts ADD COLUMN repeat_cooldown_ms INTEGER;
    ALTER TABLE alerts ADD COLUMN fire_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE alerts ADD COLUMN awaiting_reset INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE alerts ADD COLUMN cooldown_until INTEGER;
    ALTER TABLE alerts ADD COLUMN last_trade_id INTEGER;
    UPDATE alerts SET fire_count = (SELECT COUNT(*) FROM fires WHERE fires.alert_id = alerts.id);
    ",
    // 8 → 9: alerts that expire (`expires_at`; an alert that reached it unfired is `expired`),
    // and alerts on a move in percent within a window (`percent_up`, `percent_down`,
    // `percent_move`: `percent` and `window_ms` instead of a target, and the window's low or
    // high each fire was measured from). SQLite cannot change a CHECK, so the table is rebuilt
    // (as in 4) with the new statuses and conditions and a target that may be absent; ids
    // handed out before stay used up.
    "
    DROP TRIGGER alerts_count_insert;
    DROP TRIGGER alerts_count_delete;
    CREATE TABLE alerts_v9 (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id             INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        symbol              TEXT NOT NULL,
        target_price        TEXT,
        condition           TEXT NOT NULL CHECK (condition IN ('above', 'below', 'cross',
                                'percent_up', 'percent_down', 'percent_move')),
        status              TEXT NOT NULL DEFAULT 'created'
                            CHECK (status IN ('created', 'triggered', 'expired', 'deleted')),
        created_at          INTEGER NOT NULL,
        triggered_at        INTEGER,
        triggered_price     TEXT,
        deleted_at          INTEGER,
        channels            TEXT NOT NULL DEFAULT '[]',
        note                TEXT,
        armed_at            INTEGER NOT NULL DEFAULT 0,
        repeat_rearm        TEXT,
        repeat_cooldown_ms  INTEGER,
        fire_count          INTEGER NOT NULL DEFAULT 0,
        awaiting_reset      INTEGER NOT NULL DEFAULT 0,
        cooldown_until      INTEGER,
        last_trade_id       INTEGER,
        expires_at          INTEGER,
        percent             TEXT,
        window_ms           INTEGER,
        triggered_reference TEXT
    );
    INSERT INTO alerts_v9 (id, user_id, symbol, target_price, condition, status, created_at,
                           triggered_at, triggered_price, deleted_at, channels, note, armed_at,
                           repeat_rearm, repeat_cooldown_ms, fire_count, awaiting_reset,
                           cooldown_until, last_trade_id)
        SELECT id, user_id, symbol, target_price, condition, status, created_at, triggered_at,
               triggered_price, deleted_at, channels, note, armed_at, repeat_rearm,
               repeat_cooldown_ms, fire_count, awaiting_reset, cooldown_until, last_trade_id
        FROM alerts;
    -- The highest id ever handed out, which may be above every row left: it stays used up.
    CREATE TEMP TABLE alerts_v9_seq AS SELECT seq FROM sqlite_sequence WHERE name = 'alerts';
    DROP TABLE alerts;
    ALTER TABLE alerts_v9 RENAME TO alerts;
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'alerts', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'alerts');
    UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM alerts_v9_seq), 0))
        WHERE name = 'alerts';
    DROP TABLE alerts_v9_seq;
    CREATE INDEX alerts_by_user ON alerts(user_id, status, id);
    CREATE INDEX alerts_armed ON alerts(symbol) WHERE status = 'created';
    CREATE TRIGGER alerts_count_insert AFTER INSERT ON alerts WHEN NEW.status != 'deleted'
    BEGIN
        UPDATE users SET live_alerts = live_alerts + 1 WHERE id = NEW.user_id;
    END;
    CREATE TRIGGER alerts_count_delete AFTER UPDATE OF status ON alerts
        WHEN OLD.status != 'deleted' AND NEW.status = 'deleted'
    BEGIN
        UPDATE users SET live_alerts = live_alerts - 1 WHERE id = NEW.user_id;
    END;
    ALTER TABLE fires ADD COLUMN reference_price TEXT;
    ",
];

/// The schema version this build writes and understands.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

pub fn version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Fails when the database was written by a newer pricealert than this one.
pub fn ensure_known(conn: &Connection) -> Result<i64, StoreError> {
    let found = version(conn)?;
    if found > LATEST {
        return Err(StoreError::SchemaTooNew {
            found,
            known: LATEST,
        });
    }
    Ok(found)
}

/// Applies every pending migration; returns (version before, version after).
///
/// Foreign keys are off while migrations run (a table rebuild drops and renames tables, which
/// must not cascade), and each migration checks them before it commits.
pub fn apply(conn: &mut Connection) -> Result<(i64, i64), StoreError> {
    let before = ensure_known(conn)?;
    if before == LATEST {
        return Ok((before, LATEST));
    }
    let foreign_keys: bool = conn.query_row("PRAGMA foreign_keys", [], |row| row.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let result = apply_pending(conn, before);
    conn.pragma_update(None, "foreign_keys", foreign_keys)?;
    result.map(|()| (before, LATEST))
}

fn apply_pending(conn: &mut Connection, from: i64) -> Result<(), StoreError> {
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        let broken: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |row| row.get(0))
            .optional()?;
        if let Some(table) = broken {
            return Err(StoreError::Task(format!(
                "migration {} left a broken reference in {table}",
                index + 1
            )));
        }
        // PRAGMA takes no parameters; the value is our own constant, not input.
        tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1))?;
        tx.commit()?;
        tracing::info!(version = index + 1, "applied schema migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(conn: &Connection, user: i64) -> i64 {
        conn.query_row(
            "SELECT live_alerts FROM users WHERE id = ?1",
            [user],
            |row| row.get(0),
        )
        .unwrap()
    }

    #[test]
    fn live_alert_counts_are_backfilled_then_kept_by_the_database() {
        let mut conn = Connection::open_in_memory().unwrap();
        // A version-2 database with history: one user with 2 live alerts and 1 deleted one.
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 2;
             INSERT INTO users (id, username, email, password_hash, created_at)
                 VALUES (1, 'ann', 'a@example.com', 'x', 0), (2, 'bob', 'b@example.com', 'x', 0);
             INSERT INTO alerts (user_id, symbol, target_price, condition, status, created_at)
                 VALUES (1, 'BTCUSDT', '1', 'above', 'created', 0),
                        (1, 'BTCUSDT', '2', 'above', 'triggered', 0),
                        (1, 'BTCUSDT', '3', 'above', 'deleted', 0);",
        )
        .unwrap();
        assert_eq!(apply(&mut conn).unwrap(), (2, LATEST));
        assert_eq!((count(&conn, 1), count(&conn, 2)), (2, 0));

        conn.execute_batch(
            "INSERT INTO alerts (user_id, symbol, target_price, condition, status, created_at)
                 VALUES (2, 'ETHUSDT', '1', 'below', 'created', 0);
             UPDATE alerts SET status = 'triggered' WHERE user_id = 2;",
        )
        .unwrap();
        assert_eq!(count(&conn, 2), 1, "firing keeps the alert counted");
        conn.execute_batch("UPDATE alerts SET status = 'deleted' WHERE user_id = 2")
            .unwrap();
        conn.execute_batch("UPDATE alerts SET status = 'deleted' WHERE user_id = 2")
            .unwrap();
        assert_eq!(count(&conn, 2), 0, "deleting twice counts once");
    }

    #[test]
    fn notifications_become_email_deliveries_of_a_fire() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 4;
             INSERT INTO users (id, username, email, password_hash, created_at)
                 VALUES (1, 'ann', 'a@example.com', 'x', 0), (2, 'bob', 'b@example.com', 'x', 0);
             INSERT INTO alerts (id, user_id, symbol, target_price, condition, status, created_at,
                                 triggered_at, triggered_price)
                 VALUES (7, 1, 'BTCUSDT', '1', 'above', 'triggered', 0, 50, '1.5'),
                        (8, 1, 'BTCUSDT', '9', 'above', 'created', 0, NULL, NULL);
             INSERT INTO notifications (alert_id, user_id, status, attempts, next_attempt_at,
                                        created_at, sent_at)
                 VALUES (7, 1, 'sent', 2, 0, 50, 60);",
        )
        .unwrap();
        assert_eq!(apply(&mut conn).unwrap(), (4, LATEST));
        let channels: Vec<(i64, String)> = conn
            .prepare("SELECT user_id, settings FROM channels ORDER BY user_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(channels.len(), 2, "every account gets its email channel");
        assert_eq!(
            channels[0].1,
            r#"{"kind":"email","address":"a@example.com"}"#
        );
        let linked: Vec<String> = conn
            .prepare("SELECT channels FROM alerts ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            linked,
            ["[1]", "[1]"],
            "both alerts notify the owner's email channel"
        );
        let delivery: (String, i64, i64, String) = conn
            .query_row(
                "SELECT d.status, d.attempts, d.sent_at, f.price FROM deliveries d
                 JOIN fires f ON f.id = d.fire_id WHERE d.alert_id = 7",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(delivery, ("sent".to_string(), 2, 60, "1.5".to_string()));
    }

    #[test]
    fn ids_are_never_reused_after_the_rebuild() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 3;
             INSERT INTO users (id, username, email, password_hash, created_at)
                 VALUES (1, 'ann', 'a@example.com', 'x', 0), (2, 'bob', 'b@example.com', 'x', 0);
             INSERT INTO alerts (id, user_id, symbol, target_price, condition, status, created_at,
                                 triggered_at, triggered_price)
                 VALUES (7, 2, 'BTCUSDT', '1', 'above', 'triggered', 0, 5, '1');
             INSERT INTO notifications (alert_id, user_id, next_attempt_at, created_at)
                 VALUES (7, 2, 0, 0);",
        )
        .unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        assert_eq!(apply(&mut conn).unwrap(), (3, LATEST));
        let foreign_keys: bool = conn
            .query_row("PRAGMA foreign_keys", [], |row| row.get(0))
            .unwrap();
        assert!(foreign_keys, "foreign keys are back on");
        // Rows, counts and references survived the rebuild.
        assert_eq!(count(&conn, 2), 1);
        let notified: i64 = conn
            .query_row("SELECT alert_id FROM deliveries", [], |row| row.get(0))
            .unwrap();
        assert_eq!(notified, 7);
        // The highest user and alert go; the next ones get new ids, not theirs.
        conn.execute_batch("DELETE FROM users WHERE id = 2")
            .unwrap();
        let alerts_left: i64 = conn
            .query_row("SELECT COUNT(*) FROM deliveries", [], |row| row.get(0))
            .unwrap();
        assert_eq!(alerts_left, 0, "deleting a user still cascades");
        conn.execute_batch(
            "INSERT INTO users (username, email, password_hash, created_at)
                 VALUES ('cat', 'c@example.com', 'x', 0);
             INSERT INTO alerts (user_id, symbol, target_price, condition, created_at)
                 VALUES (1, 'BTCUSDT', '1', 'above', 0);",
        )
        .unwrap();
        let ids: (i64, i64) = conn
            .query_row(
                "SELECT (SELECT id FROM users WHERE username = 'cat'), (SELECT MAX(id) FROM alerts)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(ids, (3, 8));
    }
}

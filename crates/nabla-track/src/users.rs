//! Users, their access tokens, and who may read or write which project: what `nabla server`
//! asks before it lets a request through.
//!
//! A token is `nabla_<id>_<secret>`. The id (12 hex digits) names the token's row and may be
//! logged; the secret (64 hex digits: 256 bits from the OS) is shown once, when the token is
//! made, and only its SHA-256 is stored. Checking a token finds the row by id and compares the
//! secret's hash with the stored one in constant time, so neither a copy of the database nor
//! the comparison's timing tells anything about a secret. A secret of 256 random bits needs no
//! slow password hash: there is nothing to guess.
//!
//! Access: an admin may do everything. A project belongs to the user who first wrote a run
//! into it; its owner may share it with other users to read or to write. A run belongs to the
//! user who created it, and only its writer (or an admin) changes it. Runs recorded locally
//! (not through a server) have no owner; only admins and `--public-read` servers show them.

use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::error::{Result, TrackError};
use crate::store::{now_secs, Store};

/// The schema of users, tokens and project sharing (migration 2 -> 3).
pub(crate) const CREATE_TABLES: &str = "
    CREATE TABLE users (
        name TEXT PRIMARY KEY NOT NULL,
        admin INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        revoked REAL                    -- unix seconds; a revoked user's tokens are refused
    );
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY NOT NULL,   -- the token's public part
        user TEXT NOT NULL,
        secret_sha256 TEXT NOT NULL,    -- lowercase hex; the secret itself is never stored
        created REAL NOT NULL,
        revoked REAL
    );
    CREATE INDEX tokens_by_user ON tokens (user);
    CREATE TABLE projects (
        name TEXT PRIMARY KEY NOT NULL,
        owner TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE project_access (
        project TEXT NOT NULL,
        user TEXT NOT NULL,
        access TEXT NOT NULL,           -- read | write
        PRIMARY KEY (project, user)
    );
    CREATE TABLE ingested_batches (   -- batches of points a server stored, so a retry stores nothing twice
        run_id TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        points INTEGER NOT NULL,
        received REAL NOT NULL,
        PRIMARY KEY (run_id, batch_id)
    ) WITHOUT ROWID;
    ALTER TABLE runs ADD COLUMN owner TEXT;  -- the user who created it through a server; NULL for a local run
    ALTER TABLE runs ADD COLUMN remote TEXT; -- the server a local run is sent to (crate::remote)
    ALTER TABLE runs ADD COLUMN delivered INTEGER NOT NULL DEFAULT 0;  -- ended and all of it on that server";

/// How a token starts.
const TOKEN_PREFIX: &str = "nabla_";
/// Hex digits in a token's id and in its secret.
const ID_HEX: usize = 12;
const SECRET_HEX: usize = 64;
/// The longest user name.
pub const MAX_USER_NAME: usize = 64;

/// A user as listed by `nabla server user list`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct User {
    /// The user's name.
    pub name: String,
    /// Whether the user may do everything.
    pub admin: bool,
    /// When the user was added (unix seconds).
    pub created: f64,
    /// When the user was revoked, if they were.
    pub revoked: Option<f64>,
    /// Tokens not revoked.
    pub active_tokens: i64,
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's name.
    pub name: String,
    /// Whether the user is an admin.
    pub admin: bool,
}

/// What a user may do in a project shared with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// See its runs.
    Read,
    /// See its runs and record new ones into it.
    Write,
}

impl Access {
    fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }

    fn parse(text: &str) -> Option<Access> {
        match text {
            "read" => Some(Access::Read),
            "write" => Some(Access::Write),
            _ => None,
        }
    }
}

/// A project's owner and the users it is shared with.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProjectSharing {
    /// The project.
    pub project: String,
    /// Who owns it (wrote its first run through a server).
    pub owner: String,
    /// Users it is shared with, by name.
    pub shared: Vec<(String, Access)>,
}

/// A user name: 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit (it
/// appears in URLs, logs and shell commands unquoted).
pub fn check_user_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_USER_NAME {
        Some("it is longer than 64 characters")
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("it must start with a letter or a digit")
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        Some("only letters, digits, `.`, `_` and `-` are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(TrackError::InvalidUserName { name: name.escape_debug().to_string(), reason }),
        None => Ok(()),
    }
}

/// `n` random bytes from the OS as lowercase hex.
fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).map_err(|e| TrackError::Random(e.to_string()))?;
    Ok(hex(&buf))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// Whether two byte strings are equal, in a time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // `black_box` keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// Splits `nabla_<id>_<secret>` into its id and secret; `None` for anything else.
fn parse_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let is_hex =
        |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (is_hex(id, ID_HEX) && is_hex(secret, SECRET_HEX)).then_some((id, secret))
}

impl Store {
    /// Adds a user and returns their first token, the only time it is shown.
    pub fn add_user(&mut self, name: &str, admin: bool) -> Result<String> {
        check_user_name(name)?;
        let (id, secret) = (random_hex(ID_HEX / 2)?, random_hex(SECRET_HEX / 2)?);
        let now = now_secs();
        let added = self.write(|tx| {
            let exists: bool =
                tx.query_row("SELECT EXISTS (SELECT 1 FROM users WHERE name = ?1)", [name], |r| r.get(0))?;
            if exists {
                return Ok(false);
            }
            tx.execute("INSERT INTO users (name, admin, created) VALUES (?1, ?2, ?3)", params![name, admin, now])?;
            insert_token(tx, name, &id, &secret, now)?;
            Ok(true)
        })?;
        if !added {
            return Err(TrackError::UserExists(name.to_string()));
        }
        Ok(format!("{TOKEN_PREFIX}{id}_{secret}"))
    }

    /// Revokes every token of `name` and gives them a new one (a token lost or leaked).
    pub fn renew_token(&mut self, name: &str) -> Result<String> {
        let (id, secret) = (random_hex(ID_HEX / 2)?, random_hex(SECRET_HEX / 2)?);
        let now = now_secs();
        self.write_checked(|tx| {
            let revoked: Option<Option<f64>> =
                tx.query_row("SELECT revoked FROM users WHERE name = ?1", [name], |r| r.get(0)).optional()?;
            match revoked {
                None => return Ok(Err(TrackError::UnknownUser(name.to_string()))),
                Some(Some(_)) => return Ok(Err(TrackError::UserRevoked(name.to_string()))),
                Some(None) => {}
            }
            tx.execute("UPDATE tokens SET revoked = ?2 WHERE user = ?1 AND revoked IS NULL", params![name, now])?;
            insert_token(tx, name, &id, &secret, now)?;
            Ok(Ok(()))
        })?;
        Ok(format!("{TOKEN_PREFIX}{id}_{secret}"))
    }

    /// Revokes a user: their tokens are refused from now on. Their runs and projects stay.
    pub fn revoke_user(&mut self, name: &str) -> Result<()> {
        let now = now_secs();
        let changed = self.write(|tx| {
            let n =
                tx.execute("UPDATE users SET revoked = ?2 WHERE name = ?1 AND revoked IS NULL", params![name, now])?;
            tx.execute("UPDATE tokens SET revoked = ?2 WHERE user = ?1 AND revoked IS NULL", params![name, now])?;
            let exists: bool =
                tx.query_row("SELECT EXISTS (SELECT 1 FROM users WHERE name = ?1)", [name], |r| r.get(0))?;
            Ok((n, exists))
        })?;
        match changed {
            (_, false) => Err(TrackError::UnknownUser(name.to_string())),
            (0, true) => Err(TrackError::UserRevoked(name.to_string())),
            _ => Ok(()),
        }
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT u.name, u.admin, u.created, u.revoked,
                        (SELECT COUNT(*) FROM tokens t WHERE t.user = u.name AND t.revoked IS NULL)
                 FROM users u ORDER BY u.name",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(User {
                    name: r.get(0)?,
                    admin: r.get(1)?,
                    created: r.get(2)?,
                    revoked: r.get(3)?,
                    active_tokens: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// Who `token` belongs to, or `None` when it is malformed, unknown, revoked or its user is.
    pub fn authenticate(&self, token: &str) -> Result<Option<Principal>> {
        let Some((id, secret)) = parse_token(token.trim()) else {
            return Ok(None);
        };
        let row: Option<(String, String, bool)> = self
            .conn
            .query_row(
                "SELECT t.secret_sha256, u.name, u.admin FROM tokens t JOIN users u ON u.name = t.user
                 WHERE t.id = ?1 AND t.revoked IS NULL AND u.revoked IS NULL",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        // Hash even when there is no row, so an unknown id takes as long as a wrong secret.
        let presented = sha256_hex(secret);
        Ok(match row {
            Some((stored, name, admin)) if constant_time_eq(stored.as_bytes(), presented.as_bytes()) => {
                Some(Principal { name, admin })
            }
            _ => None,
        })
    }

    /// Shares `project` with `user` (replacing an earlier share). Only the project's owner or
    /// an admin may share it; the project must exist (own a run) and the user must exist.
    pub fn share_project(&mut self, by: &Principal, project: &str, user: &str, access: Access) -> Result<()> {
        self.change_sharing(by, project, user, Some(access))
    }

    /// Takes `user`'s access to `project` away.
    pub fn unshare_project(&mut self, by: &Principal, project: &str, user: &str) -> Result<()> {
        self.change_sharing(by, project, user, None)
    }

    fn change_sharing(&mut self, by: &Principal, project: &str, user: &str, access: Option<Access>) -> Result<()> {
        self.write_checked(|tx| {
            let owner: Option<String> =
                tx.query_row("SELECT owner FROM projects WHERE name = ?1", [project], |r| r.get(0)).optional()?;
            let Some(owner) = owner else {
                return Ok(Err(TrackError::UnknownProject(project.to_string())));
            };
            if !by.admin && owner != by.name {
                return Ok(Err(TrackError::Forbidden(format!(
                    "only {owner} (the owner) or an admin can share project `{project}`"
                ))));
            }
            let exists: bool =
                tx.query_row("SELECT EXISTS (SELECT 1 FROM users WHERE name = ?1)", [user], |r| r.get(0))?;
            if !exists {
                return Ok(Err(TrackError::UnknownUser(user.to_string())));
            }
            match access {
                Some(access) => tx.execute(
                    "INSERT INTO project_access (project, user, access) VALUES (?1, ?2, ?3)
                     ON CONFLICT (project, user) DO UPDATE SET access = excluded.access",
                    params![project, user, access.as_str()],
                )?,
                None => {
                    tx.execute("DELETE FROM project_access WHERE project = ?1 AND user = ?2", params![project, user])?
                }
            };
            Ok(Ok(()))
        })
    }

    /// The owner of `project` and whom it is shared with; `None` for a project no server user
    /// has written to.
    pub fn project_sharing(&self, project: &str) -> Result<Option<ProjectSharing>> {
        let owner: Option<String> = self
            .conn
            .query_row("SELECT owner FROM projects WHERE name = ?1", [project], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(owner) = owner else { return Ok(None) };
        let mut stmt = self
            .conn
            .prepare("SELECT user, access FROM project_access WHERE project = ?1 ORDER BY user")
            .map_err(|e| self.err(e))?;
        let shared = stmt
            .query_map([project], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?
            .filter_map(|row| row.map(|(user, access)| Access::parse(&access).map(|a| (user, a))).transpose())
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(Some(ProjectSharing { project: project.to_string(), owner, shared }))
    }

    /// What `who` may do in `project`: `Write` for an admin, the owner, or a user it is shared
    /// with to write, and for anyone in a project nobody owns yet (the first writer claims it,
    /// see [`Store::claim_project`]); `Read` for a read share; `None` otherwise.
    pub fn project_access(&self, who: &Principal, project: &str) -> Result<Option<Access>> {
        if who.admin {
            return Ok(Some(Access::Write));
        }
        let row: Option<(String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT p.owner, a.access FROM projects p
                 LEFT JOIN project_access a ON a.project = p.name AND a.user = ?2
                 WHERE p.name = ?1",
                params![project, who.name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(match row {
            None => Some(Access::Write),
            Some((owner, _)) if owner == who.name => Some(Access::Write),
            Some((_, access)) => access.as_deref().and_then(Access::parse),
        })
    }

    /// Makes `who` the owner of `project` if nobody owns it yet, and says whether `who` may write
    /// into it now. Atomic: of two users racing for a new project, one owns it.
    pub fn claim_project(&mut self, who: &Principal, project: &str) -> Result<bool> {
        let now = now_secs();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO projects (name, owner, created) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
                params![project, who.name, now],
            )?;
            Ok(())
        })?;
        Ok(self.project_access(who, project)? == Some(Access::Write))
    }
}

impl Store {
    /// A project's number: fixed when it is first claimed, never reused while it exists
    /// (the MLflow API's experiment id). `None` for a project nobody owns.
    pub fn project_number(&self, project: &str) -> Result<Option<i64>> {
        self.conn
            .query_row("SELECT rowid FROM projects WHERE name = ?1", [project], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The project with [`Store::project_number`] `number`.
    pub fn project_named_by_number(&self, number: i64) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT name FROM projects WHERE rowid = ?1", [number], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }
}

fn insert_token(tx: &rusqlite::Connection, user: &str, id: &str, secret: &str, now: f64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO tokens (id, user, secret_sha256, created) VALUES (?1, ?2, ?3, ?4)",
        params![id, user, sha256_hex(secret), now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        (tmp, store)
    }

    #[test]
    fn a_new_users_token_authenticates_and_only_its_hash_is_stored() {
        let (_tmp, mut store) = store();
        let token = store.add_user("ada", false).unwrap();
        assert!(parse_token(&token).is_some(), "{token}");
        assert_eq!(store.authenticate(&token).unwrap(), Some(Principal { name: "ada".into(), admin: false }));
        let (_, secret) = parse_token(&token).unwrap();
        let stored: String = store.conn.query_row("SELECT secret_sha256 FROM tokens", [], |r| r.get(0)).unwrap();
        assert_eq!(stored, sha256_hex(secret));
        assert!(!stored.contains(secret));
        // A second user gets a different token.
        let other = store.add_user("grace", true).unwrap();
        assert_ne!(other, token);
        assert_eq!(store.authenticate(&other).unwrap(), Some(Principal { name: "grace".into(), admin: true }));
    }

    #[test]
    fn wrong_malformed_and_revoked_tokens_are_refused() {
        let (_tmp, mut store) = store();
        let token = store.add_user("ada", false).unwrap();
        // One secret digit changed.
        let mut wrong = token.clone().into_bytes();
        let last = wrong.len() - 1;
        wrong[last] = if wrong[last] == b'0' { b'1' } else { b'0' };
        let wrong = String::from_utf8(wrong).unwrap();
        for bad in [wrong.as_str(), "", "nabla_", "Bearer x", &token[..token.len() - 1], &token.to_uppercase()] {
            assert_eq!(store.authenticate(bad).unwrap(), None, "{bad}");
        }
        let renewed = store.renew_token("ada").unwrap();
        assert_eq!(store.authenticate(&token).unwrap(), None, "the old token is revoked by renewal");
        assert!(store.authenticate(&renewed).unwrap().is_some());
        store.revoke_user("ada").unwrap();
        assert_eq!(store.authenticate(&renewed).unwrap(), None);
        assert!(matches!(store.revoke_user("ada"), Err(TrackError::UserRevoked(_))));
        assert!(matches!(store.renew_token("ada"), Err(TrackError::UserRevoked(_))));
        assert!(matches!(store.revoke_user("nobody"), Err(TrackError::UnknownUser(_))));
        let users = store.users().unwrap();
        assert_eq!(users.len(), 1);
        assert!(users[0].revoked.is_some());
        assert_eq!(users[0].active_tokens, 0);
    }

    #[test]
    fn user_names_are_checked_and_unique() {
        let (_tmp, mut store) = store();
        store.add_user("team-1.a_b", false).unwrap();
        assert!(matches!(store.add_user("team-1.a_b", true), Err(TrackError::UserExists(_))));
        for bad in ["", "-x", "a b", "a/b", "é", &"x".repeat(65)] {
            let err = store.add_user(bad, false).unwrap_err();
            assert!(matches!(err, TrackError::InvalidUserName { .. }), "{bad}: {err}");
        }
        assert_eq!(store.users().unwrap().len(), 1);
    }

    #[test]
    fn projects_belong_to_their_first_writer_and_are_shared_by_their_owner() {
        let (_tmp, mut store) = store();
        store.add_user("ada", false).unwrap();
        store.add_user("grace", false).unwrap();
        store.add_user("root", true).unwrap();
        let ada = Principal { name: "ada".into(), admin: false };
        let grace = Principal { name: "grace".into(), admin: false };
        let root = Principal { name: "root".into(), admin: true };

        // Nobody owns `mlp` yet: anyone may write, and the first writer claims it.
        assert_eq!(store.project_access(&grace, "mlp").unwrap(), Some(Access::Write));
        assert!(store.claim_project(&ada, "mlp").unwrap());
        assert!(!store.claim_project(&grace, "mlp").unwrap(), "ada owns it now");
        assert_eq!(store.project_access(&grace, "mlp").unwrap(), None);
        assert_eq!(store.project_access(&root, "mlp").unwrap(), Some(Access::Write));

        // Only the owner (or an admin) shares it.
        let err = store.share_project(&grace, "mlp", "grace", Access::Write).unwrap_err();
        assert!(matches!(err, TrackError::Forbidden(_)), "{err}");
        store.share_project(&ada, "mlp", "grace", Access::Read).unwrap();
        assert_eq!(store.project_access(&grace, "mlp").unwrap(), Some(Access::Read));
        store.share_project(&root, "mlp", "grace", Access::Write).unwrap();
        assert_eq!(store.project_access(&grace, "mlp").unwrap(), Some(Access::Write));
        let sharing = store.project_sharing("mlp").unwrap().unwrap();
        assert_eq!((sharing.owner.as_str(), sharing.shared), ("ada", vec![("grace".to_string(), Access::Write)]));
        store.unshare_project(&ada, "mlp", "grace").unwrap();
        assert_eq!(store.project_access(&grace, "mlp").unwrap(), None);

        assert!(matches!(store.share_project(&ada, "nope", "grace", Access::Read), Err(TrackError::UnknownProject(_))));
        assert!(matches!(store.share_project(&ada, "mlp", "ghost", Access::Read), Err(TrackError::UnknownUser(_))));
        assert_eq!(store.project_sharing("nope").unwrap(), None);
    }

    #[test]
    fn constant_time_eq_compares_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}

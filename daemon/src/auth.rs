//! Authentication and the role rules.
//!
//! [`Authenticator::check`] is the interceptor in front of the Ledger and Audit services: it takes
//! the bearer token from the `authorization` metadata, hashes it with blake3 and compares the hash
//! with every known one (blake3's `Hash` compares in constant time, and the loop does not stop at a
//! match), then puts the [`Principal`] in the request's extensions. The services ask the principal
//! what it may do with [`Principal::require`] and [`Principal::may_read`].

use std::sync::{Arc, RwLock};

use tonic::{Request, Status};

use crate::access::CallNotes;
use crate::tokens::{hash_token, Role, TokenEntry};

/// Who is calling: the token's name (recorded as the actor of its events) and role.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The token's name.
    pub name: String,
    /// The token's hash, as the tokens file keeps it: a stream of a token revoked since ends.
    pub token: crate::connections::TokenHash,
    /// What it may do.
    pub role: Role,
    /// The facts of the current call for its access-log line (the permission checks add the
    /// project they are asked about).
    pub notes: CallNotes,
}

/// The kinds of role, for [`Principal::require`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RoleKind {
    /// `admin`.
    Admin,
    /// `accountant`.
    Accountant,
    /// `auditor`.
    Auditor,
    /// `project:<id>`.
    Project,
}

impl Principal {
    /// The kind of its role.
    pub fn kind(&self) -> RoleKind {
        match self.role {
            Role::Admin => RoleKind::Admin,
            Role::Accountant => RoleKind::Accountant,
            Role::Auditor => RoleKind::Auditor,
            Role::Project(_) => RoleKind::Project,
        }
    }

    /// `PERMISSION_DENIED` unless the role is one of `allowed`.
    pub fn require(&self, allowed: &[RoleKind], what: &str) -> Result<(), Status> {
        if allowed.contains(&self.kind()) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!("role {} may not {what}", self.role)))
        }
    }

    /// `PERMISSION_DENIED` when a `project:<id>` token asks about another project. Checked before
    /// anything else about `project`, so the answer says nothing about whether it exists.
    pub fn may_read(&self, project: &str) -> Result<(), Status> {
        self.notes.project(project);
        match &self.role {
            Role::Project(own) if own.as_str() != project => {
                Err(Status::permission_denied(format!("a token of project {own} may read only that project")))
            }
            _ => Ok(()),
        }
    }

    /// [`Principal::may_read`] for a write: `PERMISSION_DENIED` when a `project:<id>` token would
    /// record in another project, saying what it may do (record for its own project), checked
    /// before anything else about `project`.
    pub fn may_write(&self, project: &str) -> Result<(), Status> {
        self.notes.project(project);
        match &self.role {
            Role::Project(own) if own.as_str() != project => Err(Status::permission_denied(format!(
                "a token of project {own} may record only in that project's chain"
            ))),
            _ => Ok(()),
        }
    }

    /// The one project a `project:<id>` token is limited to; `None` for the other roles.
    pub fn own_project(&self) -> Option<&str> {
        match &self.role {
            Role::Project(own) => Some(own.as_str()),
            _ => None,
        }
    }

    /// The principal the interceptor stored in `request`.
    pub fn of<T>(request: &Request<T>) -> Result<&Principal, Status> {
        request.extensions().get::<Principal>().ok_or_else(|| Status::unauthenticated("no bearer token"))
    }
}

/// Checks bearer tokens against the hashes of the tokens file. Clones share the tokens, which
/// [`Authenticator::replace`] swaps whole (the tokens file reloaded on SIGHUP): a call is checked
/// against the old set or the new one, never a mix, and connections are not touched.
#[derive(Clone)]
pub struct Authenticator {
    tokens: Arc<RwLock<Arc<Vec<TokenEntry>>>>,
}

/// What a reload of the tokens file changed, by token name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TokenChanges {
    /// Names new in the file.
    pub added: Vec<String>,
    /// Names no longer in the file (their tokens are refused from now on).
    pub removed: Vec<String>,
    /// Names whose role or token changed.
    pub changed: Vec<String>,
}

impl TokenChanges {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The standing a connection gets at the connection cap from a call with a token of `role`.
fn standing_of(role: &Role) -> crate::connections::Vouched {
    use crate::connections::Vouched;
    match role {
        Role::Admin | Role::Accountant => Vouched::Staff,
        Role::Auditor => Vouched::Auditor,
        Role::Project(_) => Vouched::Project,
    }
}

/// Tells the connections which token names are in force, with their standing.
fn publish_standings(tokens: &[TokenEntry]) {
    crate::connections::tokens_in_force(tokens.iter().map(|t| (*t.hash.as_bytes(), standing_of(&t.role))));
}

impl Authenticator {
    /// An authenticator knowing `tokens`.
    pub fn new(tokens: Vec<TokenEntry>) -> Authenticator {
        publish_standings(&tokens);
        Authenticator { tokens: Arc::new(RwLock::new(Arc::new(tokens))) }
    }

    fn current(&self) -> Arc<Vec<TokenEntry>> {
        // A poisoned lock still holds a whole set: the writer only ever swaps an Arc.
        self.tokens.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Makes `tokens` the known set, for every clone, and says what changed.
    pub fn replace(&self, tokens: Vec<TokenEntry>) -> TokenChanges {
        let old = self.current();
        let mut changes = TokenChanges::default();
        for t in &tokens {
            match old.iter().find(|o| o.name == t.name) {
                None => changes.added.push(t.name.clone()),
                Some(o) if o.hash != t.hash || o.role != t.role => changes.changed.push(t.name.clone()),
                Some(_) => {}
            }
        }
        changes.removed =
            old.iter().filter(|o| !tokens.iter().any(|t| t.name == o.name)).map(|o| o.name.clone()).collect();
        *self.tokens.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(tokens);
        // a connection's standing is at most what its token gives now (none for one revoked)
        publish_standings(&self.current());
        changes
    }

    /// The interceptor: `UNAUTHENTICATED` without a known bearer token; otherwise the request with
    /// its [`Principal`] in the extensions.
    pub fn check(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let mut principal = self.principal(request.metadata().get("authorization").map(|v| v.as_bytes()))?;
        // a staff token's connection keeps its place at the connection cap
        if let Some(conn) = crate::connections::ConnInfo::of(request.extensions()) {
            conn.vouched(&principal.token, standing_of(&principal.role));
        }
        if let Some(notes) = request.extensions().get::<CallNotes>() {
            notes.principal(&principal.name, &principal.role.to_string());
            principal.notes = notes.clone();
        }
        request.extensions_mut().insert(principal);
        Ok(request)
    }

    /// The principal of an `authorization` header value.
    pub fn principal(&self, header: Option<&[u8]>) -> Result<Principal, Status> {
        let header =
            header.ok_or_else(|| Status::unauthenticated("no bearer token: send `authorization: Bearer <token>`"))?;
        let text =
            std::str::from_utf8(header).map_err(|_| Status::unauthenticated("the authorization header is not text"))?;
        let token = match text.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(Status::unauthenticated("the authorization header is not `Bearer <token>`")),
        };
        let hash = hash_token(token);
        let tokens = self.current();
        let mut found: Option<&TokenEntry> = None;
        for entry in tokens.iter() {
            // Constant-time comparison, and no early exit: the time does not tell which entry matched.
            if entry.hash == hash {
                found = Some(entry);
            }
        }
        let entry = found.ok_or_else(|| Status::unauthenticated("unknown token"))?;
        Ok(Principal {
            name: entry.name.clone(),
            token: *entry.hash.as_bytes(),
            role: entry.role.clone(),
            notes: CallNotes::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use fiscus_ledger::ProjectId;
    use tonic::Code;

    use super::*;

    fn auth() -> Authenticator {
        let p = ProjectId::parse("p", "meetup").expect("id");
        Authenticator::new(vec![
            TokenEntry { hash: hash_token("fiscus_a"), name: "alice".into(), role: Role::Accountant },
            TokenEntry { hash: hash_token("fiscus_m"), name: "mo".into(), role: Role::Project(p) },
        ])
    }

    #[test]
    fn bearer_tokens_map_to_principals() {
        let a = auth();
        assert_eq!(a.principal(Some(b"Bearer fiscus_a")).expect("known").name, "alice");
        assert_eq!(a.principal(Some(b"bearer fiscus_m")).expect("known").name, "mo");
        for bad in [None, Some(&b"Bearer nope"[..]), Some(b"fiscus_a"), Some(b"Basic fiscus_a")] {
            assert_eq!(a.principal(bad).expect_err("refused").code(), Code::Unauthenticated);
        }
    }

    #[test]
    fn project_tokens_read_only_their_project() {
        let mo = auth().principal(Some(b"Bearer fiscus_m")).expect("known");
        assert!(mo.may_read("meetup").is_ok());
        assert_eq!(mo.may_read("other").expect_err("denied").code(), Code::PermissionDenied);
        assert_eq!(mo.require(&[RoleKind::Admin], "open projects").expect_err("denied").code(), Code::PermissionDenied);
    }
}

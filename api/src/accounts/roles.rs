//! Who may do what: the roles of a tenant's members and the scopes of its API tokens, and how
//! they correspond. Sessions (`auth`), members and tokens all read these; this module
//! reads none of them.

use crate::rest::error::FieldProblem;
use serde::{Deserialize, Serialize};

/// What a member may do in the tenant's admin.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including the members; a tenant always has at least one.
    Owner,
    Admin,
    /// Changes monitors, components, incidents and the status page.
    Editor,
    /// Reads only.
    Viewer,
}

impl Role {
    /// Whether this role may change things (everyone but a viewer).
    pub fn can_edit(self) -> bool {
        !matches!(self, Role::Viewer)
    }

    /// Whether this role may manage members, API tokens and notification channels and see
    /// secret values: owners and admins.
    pub fn can_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// The API token scopes that match this role, so a session and a token of the same person
    /// can do the same: owner and admin `read, write, admin`; editor `read, write`; viewer `read`.
    pub fn scopes(self) -> &'static [Scope] {
        use Scope::*;
        match self {
            Role::Owner | Role::Admin => &[Read, Write, Admin],
            Role::Editor => &[Read, Write],
            Role::Viewer => &[Read],
        }
    }

    /// Parses a role from a request, or the problem with it on `field`.
    pub fn parse(field: &str, value: &str) -> Result<Role, FieldProblem> {
        serde_json::from_value(serde_json::Value::String(value.trim().to_owned())).map_err(|_| {
            FieldProblem {
                field: field.to_owned(),
                message: format!("unknown role {value:?}: must be owner, admin, editor or viewer"),
            }
        })
    }
}

// What an API token may do (no doc comment: it would become the schema's description).
#[derive(
    utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    /// Implies `read`.
    Write,
    /// Implies `write`: tokens, members, notification channels, secret values.
    Admin,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::stored_name;

    #[test]
    fn roles_parse_and_only_viewers_cannot_edit() {
        assert_eq!(Role::parse("role", "owner"), Ok(Role::Owner));
        assert_eq!(Role::parse("role", " editor "), Ok(Role::Editor));
        assert_eq!(Role::parse("role", "viewer"), Ok(Role::Viewer));
        assert_eq!(Role::parse("role", "root").unwrap_err().field, "role");
        assert_eq!(Role::parse("role", "Owner").unwrap_err().field, "role");
        assert!(Role::Owner.can_edit() && Role::Admin.can_edit() && Role::Editor.can_edit());
        assert!(!Role::Viewer.can_edit());
        assert!(Role::Owner.can_admin() && Role::Admin.can_admin());
        assert!(!Role::Editor.can_admin() && !Role::Viewer.can_admin());
        for role in [Role::Owner, Role::Admin, Role::Editor, Role::Viewer] {
            assert_eq!(role.scopes().contains(&Scope::Write), role.can_edit());
            assert_eq!(role.scopes().contains(&Scope::Admin), role.can_admin());
        }
        assert_eq!(stored_name(&Role::Admin), "admin");
    }
}

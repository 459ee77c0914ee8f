//! The roles of the API (docs/integration.md, "Roles and what they may do"): what a caller may do. A person, service account or form-request
//! token has exactly one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Supervisor,
    Clinician,
    Integration,
    Analyst,
    Client,
}

impl Role {
    pub const ALL: [Role; 6] =
        [Role::Admin, Role::Supervisor, Role::Clinician, Role::Integration, Role::Analyst, Role::Client];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Clinician => "clinician",
            Role::Integration => "integration",
            Role::Analyst => "analyst",
            Role::Client => "client",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == raw)
    }
}

/// The roles a person may hold (clients come through form requests, integrations are service
/// accounts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PersonRole {
    Admin,
    Supervisor,
    Clinician,
    Analyst,
}

impl From<PersonRole> for Role {
    fn from(role: PersonRole) -> Self {
        match role {
            PersonRole::Admin => Role::Admin,
            PersonRole::Supervisor => Role::Supervisor,
            PersonRole::Clinician => Role::Clinician,
            PersonRole::Analyst => Role::Analyst,
        }
    }
}

/// The roles a service account may hold: an EHR integration or an analytics pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountRole {
    Integration,
    Analyst,
}

impl From<AccountRole> for Role {
    fn from(role: AccountRole) -> Self {
        match role {
            AccountRole::Integration => Role::Integration,
            AccountRole::Analyst => Role::Analyst,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_name() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}

//! The roles of API.md: what a caller may do. A person, service account or form-request
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

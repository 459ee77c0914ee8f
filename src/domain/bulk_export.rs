//! FHIR Bulk Data export jobs (docs/integration.md, "FHIR Bulk Data"): what a job exports and
//! the states it passes through.

/// The resource types a Bulk Data export can hold, in the order a job writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BulkResourceType {
    Patient,
    QuestionnaireResponse,
    Observation,
}

impl BulkResourceType {
    pub const ALL: [BulkResourceType; 3] =
        [BulkResourceType::Patient, BulkResourceType::QuestionnaireResponse, BulkResourceType::Observation];

    pub fn as_str(self) -> &'static str {
        match self {
            BulkResourceType::Patient => "Patient",
            BulkResourceType::QuestionnaireResponse => "QuestionnaireResponse",
            BulkResourceType::Observation => "Observation",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// The kick-off endpoint a job came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkLevel {
    /// `GET /fhir/r4/$export`
    System,
    /// `GET /fhir/r4/Patient/$export`: every patient's compartment.
    Patient,
}

impl BulkLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkLevel::System => "system",
            BulkLevel::Patient => "patient",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [BulkLevel::System, BulkLevel::Patient].into_iter().find(|level| level.as_str() == raw)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkStatus {
    Queued,
    Running,
    Completed,
    Failed,
}

impl BulkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkStatus::Queued => "queued",
            BulkStatus::Running => "running",
            BulkStatus::Completed => "completed",
            BulkStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [BulkStatus::Queued, BulkStatus::Running, BulkStatus::Completed, BulkStatus::Failed]
            .into_iter()
            .find(|status| status.as_str() == raw)
    }
}

/// Which types a `_type` parameter names: a comma-separated list of supported types, each at
/// most once. Absent: all of them.
pub fn requested_types(parameter: Option<&str>) -> Result<Vec<BulkResourceType>, String> {
    let Some(parameter) = parameter else { return Ok(BulkResourceType::ALL.to_vec()) };
    let mut types = Vec::new();
    for name in parameter.split(',').map(str::trim) {
        let kind = BulkResourceType::parse(name).ok_or_else(|| {
            format!("`{name}` is not a type this server exports (Patient, QuestionnaireResponse, Observation)")
        })?;
        if types.contains(&kind) {
            return Err(format!("`{name}` is named twice"));
        }
        types.push(kind);
    }
    types.sort();
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_lists_are_checked_and_put_in_writing_order() {
        use BulkResourceType::*;
        assert_eq!(requested_types(None), Ok(vec![Patient, QuestionnaireResponse, Observation]));
        assert_eq!(requested_types(Some("Observation,Patient")), Ok(vec![Patient, Observation]));
        assert!(requested_types(Some("Observation,Encounter")).unwrap_err().contains("Encounter"));
        assert!(requested_types(Some("Patient,Patient")).is_err());
        assert!(requested_types(Some("")).is_err());
    }

    #[test]
    fn stored_states_round_trip_and_unknown_ones_are_refused() {
        for status in ["queued", "running", "completed", "failed"] {
            assert_eq!(BulkStatus::parse(status).unwrap().as_str(), status);
        }
        assert_eq!(BulkStatus::parse("cancelled"), None);
        assert_eq!(BulkLevel::parse("group"), None);
    }
}

//! The FHIR R4 validator the tests check Rapport's resources with: tools/fhir-validator
//! (fhirbolt's R4 4.0.1 model in strict mode, then a round trip), built once per test run in
//! its own target directory and fed one resource per line.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

static VALIDATOR: OnceLock<PathBuf> = OnceLock::new();

fn validator() -> &'static Path {
    VALIDATOR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = root.join("target/fhir-validator");
        let built = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--locked", "--manifest-path"])
            .arg(root.join("tools/fhir-validator/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("cargo runs");
        assert!(built.success(), "the FHIR validator builds");
        target.join("debug/fhir-validator")
    })
}

/// For each resource: `None` when it is valid FHIR R4, else why not.
pub fn r4_problems(resources: &[Value]) -> Vec<Option<String>> {
    let mut child =
        Command::new(validator()).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("the validator starts");
    let input: String = resources.iter().map(|r| format!("{r}\n")).collect();
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("the validator answers");
    writer.join().expect("writer").expect("resources written");
    let verdicts: Vec<Option<String>> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| if line == "ok" { None } else { Some(line.to_owned()) })
        .collect();
    assert_eq!(verdicts.len(), resources.len(), "one verdict per resource");
    verdicts
}

/// Asserts that every resource is valid FHIR R4.
pub fn assert_r4(resources: &[Value]) {
    for (resource, verdict) in resources.iter().zip(r4_problems(resources)) {
        assert!(
            verdict.is_none(),
            "{} is not valid FHIR R4: {}\n{resource:#}",
            resource["resourceType"],
            verdict.unwrap_or_default()
        );
    }
}

#[test]
fn the_validator_refuses_what_r4_refuses() {
    let verdicts = r4_problems(&[
        serde_json::json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}),
        serde_json::json!({"resourceType": "Observation", "status": "final"}),
        serde_json::json!({"resourceType": "Observation", "status": "done", "code": {"text": "x"}}),
        serde_json::json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "colour": "red"}),
        serde_json::json!({"resourceType": "QuestionnaireResponse", "status": "completed", "item": [{"answer": [{"valueInteger": 1}]}]}),
        serde_json::json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]}),
    ]);
    let valid: Vec<bool> = verdicts.iter().map(Option::is_none).collect();
    assert_eq!(valid, [true, false, false, false, false, true], "{verdicts:?}");
}

//! Required value-set bindings (FHIR R4 4.0.1) of the coded elements in the resources Rapport
//! emits: a code outside its value set is an error.

use serde_json::Value;

const PUBLICATION_STATUS: &[&str] = &["draft", "active", "retired", "unknown"];
const OBSERVATION_STATUS: &[&str] =
    &["registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"];
const RESPONSE_STATUS: &[&str] = &["in-progress", "completed", "amended", "entered-in-error", "stopped"];
const ITEM_TYPE: &[&str] = &[
    "group",
    "display",
    "boolean",
    "decimal",
    "integer",
    "date",
    "dateTime",
    "time",
    "string",
    "text",
    "url",
    "choice",
    "open-choice",
    "attachment",
    "reference",
    "quantity",
];
const ISSUE_SEVERITY: &[&str] = &["fatal", "error", "warning", "information"];
const ISSUE_TYPE: &[&str] = &[
    "invalid",
    "structure",
    "required",
    "value",
    "invariant",
    "security",
    "login",
    "unknown",
    "expired",
    "forbidden",
    "suppressed",
    "processing",
    "not-supported",
    "duplicate",
    "multiple-matches",
    "not-found",
    "deleted",
    "too-long",
    "code-invalid",
    "extension",
    "too-costly",
    "business-rule",
    "conflict",
    "transient",
    "lock-error",
    "no-store",
    "exception",
    "timeout",
    "incomplete",
    "throttled",
    "informational",
];
const BUNDLE_TYPE: &[&str] = &[
    "document",
    "message",
    "transaction",
    "transaction-response",
    "batch",
    "batch-response",
    "history",
    "searchset",
    "collection",
];
const SEARCH_MODE: &[&str] = &["match", "include", "outcome"];
const HTTP_VERB: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"];
const CAPABILITY_KIND: &[&str] = &["instance", "capability", "requirements"];
const REST_MODE: &[&str] = &["client", "server"];
const TYPE_INTERACTION: &[&str] =
    &["read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"];
const SYSTEM_INTERACTION: &[&str] = &["transaction", "batch", "search-system", "history-system"];
const SEARCH_PARAM_TYPE: &[&str] =
    &["number", "date", "string", "token", "reference", "composite", "quantity", "uri", "special"];
const VERSIONING: &[&str] = &["no-version", "versioned", "versioned-update"];
const FHIR_VERSION: &[&str] = &["4.0.0", "4.0.1"];
const IDENTIFIER_USE: &[&str] = &["usual", "official", "temp", "secondary", "old"];

struct Checker {
    problems: Vec<String>,
}

impl Checker {
    fn code(&mut self, value: &Value, path: &str, allowed: &[&str]) {
        match value {
            Value::Null => {}
            Value::String(code) if allowed.contains(&code.as_str()) => {}
            other => self.problems.push(format!("{path}: `{other}` is not in its required value set")),
        }
    }

    fn each(&mut self, value: &Value, path: &str, mut f: impl FnMut(&mut Self, &Value, &str)) {
        for (index, item) in value.as_array().into_iter().flatten().enumerate() {
            f(self, item, &format!("{path}[{index}]"));
        }
    }

    fn identifier(&mut self, value: &Value, path: &str) {
        self.code(&value["use"], &format!("{path}.use"), IDENTIFIER_USE);
    }

    fn questionnaire_items(&mut self, items: &Value, path: &str) {
        self.each(items, &format!("{path}.item"), |c, item, here| {
            c.code(&item["type"], &format!("{here}.type"), ITEM_TYPE);
            c.questionnaire_items(&item["item"], here);
        });
    }

    fn response_items(&mut self, items: &Value, path: &str) {
        self.each(items, &format!("{path}.item"), |c, item, here| {
            if item.get("answer").is_some() && item.get("item").is_some() {
                c.problems.push(format!("{here}: qrs-1, nested items beneath both item and answer"));
            }
            c.each(&item["answer"], &format!("{here}.answer"), |c, answer, there| {
                c.response_items(&answer["item"], there)
            });
            c.response_items(&item["item"], here);
        });
    }

    fn resource(&mut self, resource: &Value, path: &str) {
        let kind = resource["resourceType"].as_str().unwrap_or_default();
        let at = |element: &str| format!("{path}.{element}");
        match kind {
            "Observation" => {
                self.code(&resource["status"], &at("status"), OBSERVATION_STATUS);
                if resource.get("dataAbsentReason").is_some() && resource.get("valueQuantity").is_some() {
                    self.problems.push(format!("{path}: obs-6, dataAbsentReason with a value"));
                }
            }
            "QuestionnaireResponse" => {
                self.code(&resource["status"], &at("status"), RESPONSE_STATUS);
                self.identifier(&resource["identifier"], &at("identifier"));
                self.response_items(&resource["item"], path);
            }
            "Questionnaire" => {
                self.code(&resource["status"], &at("status"), PUBLICATION_STATUS);
                self.questionnaire_items(&resource["item"], path);
            }
            "OperationOutcome" => self.each(&resource["issue"], &at("issue"), |c, issue, here| {
                c.code(&issue["severity"], &format!("{here}.severity"), ISSUE_SEVERITY);
                c.code(&issue["code"], &format!("{here}.code"), ISSUE_TYPE);
            }),
            "Bundle" => {
                self.code(&resource["type"], &at("type"), BUNDLE_TYPE);
                let kind = resource["type"].as_str().unwrap_or_default();
                if resource.get("total").is_some() && !matches!(kind, "searchset" | "history") {
                    self.problems.push(format!("{path}: bdl-1, total only in a search or history"));
                }
                let mut full_urls = std::collections::BTreeSet::new();
                self.each(&resource["entry"], &at("entry"), |c, entry, here| {
                    if let Some(url) = entry["fullUrl"].as_str()
                        && !full_urls.insert(url.to_owned())
                    {
                        c.problems.push(format!("{here}: bdl-7, fullUrl {url} repeated"));
                    }
                    c.code(&entry["search"]["mode"], &format!("{here}.search.mode"), SEARCH_MODE);
                    c.code(&entry["request"]["method"], &format!("{here}.request.method"), HTTP_VERB);
                    if entry.get("resource").is_some() {
                        c.resource(&entry["resource"], &format!("{here}.resource"));
                    }
                });
            }
            "CapabilityStatement" => {
                self.code(&resource["status"], &at("status"), PUBLICATION_STATUS);
                self.code(&resource["kind"], &at("kind"), CAPABILITY_KIND);
                self.code(&resource["fhirVersion"], &at("fhirVersion"), FHIR_VERSION);
                self.each(&resource["rest"], &at("rest"), |c, rest, here| {
                    c.code(&rest["mode"], &format!("{here}.mode"), REST_MODE);
                    c.each(&rest["interaction"], &format!("{here}.interaction"), |c, i, there| {
                        c.code(&i["code"], &format!("{there}.code"), SYSTEM_INTERACTION);
                    });
                    c.each(&rest["resource"], &format!("{here}.resource"), |c, r, there| {
                        c.code(&r["versioning"], &format!("{there}.versioning"), VERSIONING);
                        c.each(&r["interaction"], &format!("{there}.interaction"), |c, i, at| {
                            c.code(&i["code"], &format!("{at}.code"), TYPE_INTERACTION);
                        });
                        c.each(&r["searchParam"], &format!("{there}.searchParam"), |c, p, at| {
                            c.code(&p["type"], &format!("{at}.type"), SEARCH_PARAM_TYPE);
                        });
                    });
                });
            }
            _ => {}
        }
    }
}

/// Every required binding broken in `resource`, as one message.
pub fn check(resource: &Value) -> Result<(), String> {
    let mut checker = Checker { problems: Vec::new() };
    let root = resource["resourceType"].as_str().unwrap_or("Resource").to_owned();
    checker.resource(resource, &root);
    if checker.problems.is_empty() { Ok(()) } else { Err(checker.problems.join("; ")) }
}

//! template.yaml must declare the tables exactly as `portico_store::tables` defines them, which
//! is what the local stack creates: the two cannot drift.

use portico_store::tables::{TABLES, TableSpec};
use serde_norway::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml is readable");
    serde_norway::from_str(&text).expect("template.yaml is YAML")
}

fn key_schema(resource: &Value) -> Vec<(String, String)> {
    resource["Properties"]["KeySchema"]
        .as_sequence()
        .expect("KeySchema is a list")
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap_or_default().to_owned(),
                k["KeyType"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn check(spec: &TableSpec, resources: &Value) {
    let table = &resources[spec.logical_id];
    assert_eq!(
        table["Type"].as_str(),
        Some("AWS::DynamoDB::Table"),
        "{} is a table",
        spec.logical_id
    );
    let props = &table["Properties"];
    assert_eq!(props["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        key_schema(table),
        vec![
            (spec.partition_key.to_owned(), "HASH".to_owned()),
            (spec.sort_key.to_owned(), "RANGE".to_owned())
        ],
        "{} key schema",
        spec.logical_id
    );
    let mut attributes: Vec<(String, String)> = props["AttributeDefinitions"]
        .as_sequence()
        .expect("AttributeDefinitions is a list")
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap_or_default().to_owned(),
                a["AttributeType"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    attributes.sort();
    let mut expected = vec![
        (spec.partition_key.to_owned(), "S".to_owned()),
        (spec.sort_key.to_owned(), "S".to_owned()),
    ];
    expected.sort();
    assert_eq!(attributes, expected, "{} attributes", spec.logical_id);
    let ttl = &props["TimeToLiveSpecification"];
    match spec.ttl_attribute {
        Some(name) => {
            assert_eq!(ttl["AttributeName"].as_str(), Some(name));
            assert_eq!(ttl["Enabled"].as_bool(), Some(true));
        }
        None => assert!(ttl.is_null(), "{} has no TTL", spec.logical_id),
    }
    assert_eq!(
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        spec.point_in_time_recovery.then_some(true),
        "{} point-in-time recovery",
        spec.logical_id
    );
}

#[test]
fn template_tables_match_the_table_definitions() {
    let template = template();
    let resources = &template["Resources"];
    for spec in &TABLES {
        check(spec, resources);
    }
    let declared = resources
        .as_mapping()
        .expect("Resources is a map")
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .count();
    assert_eq!(
        declared,
        TABLES.len(),
        "every table in the template is defined in code"
    );
}

#[test]
fn functions_are_wired_to_the_tables_by_the_variables_the_code_reads() {
    let template = template();
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    for spec in &TABLES {
        let value = &globals[spec.name_env];
        let Value::Tagged(tagged) = value else {
            panic!(
                "{} must be set from the table resource, found {value:?}",
                spec.name_env
            );
        };
        assert_eq!(tagged.tag, "!Ref");
        assert_eq!(tagged.value.as_str(), Some(spec.logical_id));
    }
}
